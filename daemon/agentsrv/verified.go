package agentsrv

import "github.com/tally-licensing/tally/certs"

// verifiedDevice is what a device chain's verification found, remembered
// in the server's certs.ChainCache: an agent reconnecting for each
// heartbeat presents the same chain, and re-verifying it was 15 % of
// tallyd's CPU in the heartbeat phase of the bench. Whether the device is
// still enrolled (and with this key) is not cached: the ledger is asked on
// every request.
type verifiedDevice struct {
	id    certs.DeviceID
	keyFP string
}

// maxVerified bounds the cache (about 250 bytes an entry).
const maxVerified = 1 << 18
