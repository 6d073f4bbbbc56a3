package api

import (
	"encoding/json"
	"testing"
)

// FuzzBackupFile: a backup file handed to `tallyd restore` never panics
// the reader, whatever its version, sealed part or ledger.
func FuzzBackupFile(f *testing.F) {
	f.Add([]byte(`{"version":2,"cluster_id":"c","secrets_omitted":true,"ledger":{"version":1}}`))
	f.Add([]byte(`{"version":1,"ca_key":"AAAA","ledger":{}}`))
	f.Add([]byte(`{"version":2,"cluster_id":"c","sealed":{"kdf":"scrypt","n":16384,"r":8,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAA"}}`))
	f.Add([]byte(`{"version":2,"sealed":{"kdf":"scrypt","n":1073741824,"r":99,"p":99}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Backup
		if json.Unmarshal(data, &b) != nil {
			return
		}
		// Crafted cost parameters must be refused before any key
		// derivation: an out-of-range N, r or p costs nothing.
		_, _, _ = b.Open([]byte("a passphrase long enough"))
	})
}
