package loadgen

import (
	"fmt"
	"net"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/agent/client"
)

// Every listener the bench starts takes its port from Config.PortBase, so
// that it can run beside a dev cluster (7443–7445) and other benches: node i
// (0-based) listens on BASE+10*i+{0 agent (UDP), 1 admin, 2 raft, 3 pprof};
// the floor server on BASE+90.
const portsPerNode = 10

// DefaultPortBase is the port base when none is given.
const DefaultPortBase = 17600

type portPlan struct{ base int }

func (c *Config) ports() portPlan { return portPlan{base: c.PortBase} }

func (p portPlan) addr(port int) string {
	if p.ephemeral() {
		return "127.0.0.1:0"
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
func (p portPlan) agent(i int) string { return p.addr(p.base + portsPerNode*i) }
func (p portPlan) admin(i int) string { return p.addr(p.base + portsPerNode*i + 1) }
func (p portPlan) raft(i int) string  { return p.addr(p.base + portsPerNode*i + 2) }
func (p portPlan) pprof(i int) string { return p.addr(p.base + portsPerNode*i + 3) }
func (p portPlan) floor() string      { return p.addr(p.base + 90) }

// ephemeral: every listener on port 0, addresses read back.
func (p portPlan) ephemeral() bool { return p.base == 0 }

// check refuses a base whose ports do not fit below 65536.
func (p portPlan) check() error {
	if p.ephemeral() {
		return nil
	}
	if p.base < 0 || p.base+90 > 65535 {
		return fmt.Errorf("--port-base %d: want 1..%d (the bench uses BASE..BASE+90)", p.base, 65535-90)
	}
	return nil
}

// transportPool is a few UDP sockets that the simulated devices share: one
// socket per device would take one file descriptor each (50,000 devices,
// 50,000 sockets), and what the bench measures is the server. The server
// cannot tell: every device still has its own QUIC connection.
type transportPool struct {
	mu  sync.Mutex
	trs []*quic.Transport
}

// transportsPerPool: enough sockets that one socket's receive queue is not
// the bottleneck of thousands of connections.
const transportsPerPool = 32

func newTransportPool() (*transportPool, error) {
	p := &transportPool{}
	for range transportsPerPool {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			p.close()
			return nil, fmt.Errorf("bench client socket: %w", err)
		}
		p.trs = append(p.trs, &quic.Transport{Conn: c})
	}
	return p, nil
}

func (p *transportPool) get(i int) *quic.Transport { return p.trs[i%len(p.trs)] }

func (p *transportPool) close() {
	for _, t := range p.trs {
		t.Close()
	}
}

// datagramPool is the few UDP sockets the simulated devices send their
// datagram heartbeats from (as transportPool, for the same reason).
type datagramPool struct{ socks []*client.DatagramSocket }

func newDatagramPool() (*datagramPool, error) {
	p := &datagramPool{}
	for range transportsPerPool {
		s, err := client.NewDatagramSocket()
		if err != nil {
			p.close()
			return nil, err
		}
		p.socks = append(p.socks, s)
	}
	return p, nil
}

func (p *datagramPool) get(i int) *client.DatagramSocket { return p.socks[i%len(p.socks)] }

func (p *datagramPool) close() {
	for _, s := range p.socks {
		s.Close()
	}
}
