// Package protocol defines what tally-agent and tallyd say to each other over
// QUIC: the framing, the versioned message envelope, the request and response
// bodies, and the stable error codes.
//
// Every request travels on its own bidirectional QUIC stream: the client writes
// one frame and closes its side, the server answers with one frame. A frame is
// a 4-byte big-endian length followed by that many bytes of JSON. One request
// per stream keeps a slow request (a checkout that waits for a seat) from
// holding up heartbeats, and lets QUIC do the multiplexing.
//
// The package imports nothing from the server, so applications and third-party
// agents can depend on it.
//
// Design: docs/design.md#how-a-request-flows.
package protocol
