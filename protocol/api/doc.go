// Package api holds the admin API's wire types: what tallyctl, the console
// and any other client send to and receive from tallyd's /v1 routes. It
// imports nothing of the server, so a client links no Raft, no QUIC and no
// console assets (docs/api.md).
package api
