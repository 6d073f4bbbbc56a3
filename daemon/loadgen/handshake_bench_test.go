package loadgen

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// BenchmarkFloorConnection is the cost of a device's reconnect per
// heartbeat (client and server in one process): a full mutual-TLS QUIC
// handshake, a resumed one, each with one round trip, and a round trip on
// an open connection, with the default key exchange (X25519MLKEM768 hybrid
// first) and with X25519 alone.
func BenchmarkFloorConnection(b *testing.B) {
	dir := b.TempDir()
	base, err := writeFloorCerts(dir)
	if err != nil {
		b.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serveFloor(ctx, udp, dir)
	addr := udp.LocalAddr().String()
	qc := &quic.Config{HandshakeIdleTimeout: 10 * time.Second}
	for _, kx := range []struct {
		name   string
		curves []tls.CurveID
	}{{"hybrid", nil}, {"x25519", []tls.CurveID{tls.X25519}}} {
		conf := base.Clone()
		conf.CurvePreferences = kx.curves
		b.Run(kx.name+"/full", func(b *testing.B) {
			for b.Loop() {
				c, err := quic.DialAddr(ctx, addr, conf, qc)
				if err != nil {
					b.Fatal(err)
				}
				if err := floorRoundTrip(ctx, c); err != nil {
					b.Fatal(err)
				}
				c.CloseWithError(0, "")
			}
		})
		b.Run(kx.name+"/resumed", func(b *testing.B) {
			rc := conf.Clone()
			rc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			for b.Loop() {
				c, err := quic.DialAddr(ctx, addr, rc, qc)
				if err != nil {
					b.Fatal(err)
				}
				if err := floorRoundTrip(ctx, c); err != nil {
					b.Fatal(err)
				}
				c.CloseWithError(0, "")
			}
		})
	}
	b.Run("open/round-trip", func(b *testing.B) {
		c, err := quic.DialAddr(ctx, addr, base, qc)
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseWithError(0, "")
		for b.Loop() {
			if err := floorRoundTrip(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
