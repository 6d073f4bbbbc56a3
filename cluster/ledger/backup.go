package ledger

// ForgetPasswordHashes removes every member's password hash. A backup
// taken without a passphrase holds the ledger this way, so that the file
// gives nothing to crack offline; members set passwords again after a
// restore from it. Call it on a copy (read from a snapshot), never on the
// replicated state.
func (s *State) ForgetPasswordHashes() {
	for _, o := range s.mem.orgs {
		for _, u := range o.Users {
			u.PasswordHash = ""
		}
	}
}
