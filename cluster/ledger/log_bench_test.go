package ledger

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkDecodeCheckoutBatch decodes one log entry of 512 checkouts, the
// proposer's largest batch, as every node does for every entry: with this
// release's strict, versioned decoder, and with the previous release's
// decoder (encoding/json into a struct with a field per command), the floor.
func BenchmarkDecodeCheckoutBatch(b *testing.B) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	batch := Command{Type: CmdBatch, Now: now}
	for i := 0; i < 512; i++ {
		batch.Batch = append(batch.Batch, Command{Type: CmdCheckout, RequestID: fmt.Sprintf("req-%d", i), Now: now,
			Payload: &Checkout{Account: "acme", Device: fmt.Sprintf("D%04d", i), Feature: "cad", TTL: 5 * time.Minute}})
	}
	raw, err := batch.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("strict-versioned", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for i := 0; i < b.N; i++ {
			if _, err := DecodeCommand(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("previous-release-floor", func(b *testing.B) {
		// The previous release's Command, reduced to the fields this entry
		// uses; encoding/json ignores the others as it did.
		type previous struct {
			Type      CommandType `json:"type"`
			RequestID string      `json:"request_id,omitempty"`
			Now       time.Time   `json:"now"`
			Actor     string      `json:"actor,omitempty"`
			Checkout  *Checkout   `json:"checkout,omitempty"`
			Batch     []previous  `json:"batch,omitempty"`
		}
		b.SetBytes(int64(len(raw)))
		for i := 0; i < b.N; i++ {
			var c previous
			if err := json.Unmarshal(raw, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
