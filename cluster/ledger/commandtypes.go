package ledger

import "sort"

// CommandTypes lists every command type the ledger applies, sorted, for
// the documents and tests that must cover them all (the authority model in
// docs/security.md).
func CommandTypes() []CommandType {
	out := make([]CommandType, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
