// Package api is the admin API's client side: the request and response
// bodies of the /v1 endpoints, the X-Tally-* header names and the error
// body. The server (daemon/adminapi) and the clients (daemon/adminclient,
// tallyctl) share it, so tallyctl links none of the server: no Raft, no
// QUIC, no console assets. See docs/design.md#parts.
package api
