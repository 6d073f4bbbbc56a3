package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/protocol/hbdgram"
)

// The datagram floor: what one authenticated datagram round trip costs
// without Tally. The floor server reads non-QUIC packets from its QUIC
// transport (as tallyd does), opens each with AES-256-GCM, seals an answer
// of the same shape and sends it back: tallyd's datagram heartbeat minus
// the session table and the ledger.

func floorKeyFile(dir string) string { return filepath.Join(dir, "dgram.key") }

// floorKeyID is the one session the floor uses.
var floorKeyID = hbdgram.KeyID{'f', 'l', 'o', 'o', 'r'}

func writeFloorKey(dir string) ([]byte, error) {
	key := make([]byte, hbdgram.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, os.WriteFile(floorKeyFile(dir), key, 0o600)
}

// serveFloorDatagrams answers datagrams on tr until ctx ends.
func serveFloorDatagrams(ctx context.Context, tr *quic.Transport, dir string) {
	key, err := os.ReadFile(floorKeyFile(dir))
	if err != nil {
		return
	}
	aead, err := hbdgram.NewAEAD(key)
	if err != nil {
		return
	}
	type pkt struct {
		b    []byte
		from net.Addr
	}
	queue := make(chan pkt, 4096)
	defer close(queue)
	for range max(1, runtime.GOMAXPROCS(0)) {
		go func() {
			for p := range queue {
				h, err := hbdgram.ParseHeader(p.b)
				if err != nil {
					continue
				}
				req, err := hbdgram.OpenRequest(aead, h, p.b)
				if err != nil {
					continue
				}
				reply := hbdgram.AppendReply(nil, aead, h, hbdgram.Reply{Status: hbdgram.StatusOK,
					ServerTime: time.Now().UnixNano(), Expires: make([]int64, len(req.Leases))})
				tr.WriteTo(reply, p.from)
			}
		}()
	}
	// As many readers as tallyd (agentsrv.datagramReaders), for the same
	// reason: quic-go queues only 32 non-QUIC packets.
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, _, _ = tr.ReadNonQUICPacket(done, make([]byte, 1)) // creates quic-go's queue before the readers race to
	var readers sync.WaitGroup
	for range 64 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				b := make([]byte, hbdgram.MaxSize+1)
				n, from, err := tr.ReadNonQUICPacket(ctx, b)
				if err != nil {
					return
				}
				select {
				case queue <- pkt{b[:n], from}:
				default:
				}
			}
		}()
	}
	readers.Wait()
}

// floorDatagrams measures n datagram round trips (one lease each) against
// the floor server at addr, conc at a time, each from its own socket.
func floorDatagrams(ctx context.Context, m measurer, addr, dir string, n int) (Phase, error) {
	key, err := os.ReadFile(floorKeyFile(dir))
	if err != nil {
		return Phase{}, err
	}
	aead, err := hbdgram.NewAEAD(key)
	if err != nil {
		return Phase{}, err
	}
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return Phase{}, err
	}
	socks := make(chan *net.UDPConn, m.conc)
	var all []*net.UDPConn
	defer func() {
		for _, s := range all {
			s.Close()
		}
	}()
	for range m.conc {
		s, err := net.ListenUDP("udp", nil)
		if err != nil {
			return Phase{}, err
		}
		all = append(all, s)
		socks <- s
	}
	var counter atomic.Uint64
	return m.run("floor datagram", n, func(i int) error {
		s := <-socks
		defer func() { socks <- s }()
		c := counter.Add(1)
		pkt, err := hbdgram.AppendRequest(nil, aead, floorKeyID, c, hbdgram.Request{Leases: []uint64{uint64(i + 1)}})
		if err != nil {
			return err
		}
		if _, err := s.WriteTo(pkt, to); err != nil {
			return err
		}
		buf := make([]byte, hbdgram.MaxSize+1)
		for {
			s.SetReadDeadline(time.Now().Add(2 * time.Second))
			k, _, err := s.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("floor datagram: %w", err)
			}
			h, err := hbdgram.ParseHeader(buf[:k])
			if err != nil || h.Counter != c {
				continue // a late answer to an earlier, timed-out exchange
			}
			if _, err := hbdgram.OpenReply(aead, h, buf[:k]); err != nil {
				return errors.New("floor datagram: reply does not authenticate")
			}
			return nil
		}
	})
}
