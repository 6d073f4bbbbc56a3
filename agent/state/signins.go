package state

import (
	"errors"
	"io/fs"
	"time"
)

// SignInsFile holds the members signed in on this device, per OS user.
const SignInsFile = "signins.json"

// SignIn is one OS user's member sign-in. Credential is a bearer secret,
// but only for this device: the cluster accepts it only over this device's
// mutual-TLS connection, from the key the device enrolled with, so the file
// copied to another device is useless there.
type SignIn struct {
	OSUser     string    `json:"os_user"`
	Credential string    `json:"credential"`
	SignInID   string    `json:"sign_in_id"`
	Account    string    `json:"account"`
	Email      string    `json:"email"`
	Role       string    `json:"role,omitempty"`
	Since      time.Time `json:"since"`
}

// SignIns is the content of signins.json, by OS user.
type SignIns struct {
	Users map[string]SignIn `json:"users"`
}

// LoadSignIns reads signins.json; a missing file is no sign-in.
func (d *Dir) LoadSignIns() (*SignIns, error) {
	var s SignIns
	err := d.readJSON(SignInsFile, &s)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if s.Users == nil {
		s.Users = map[string]SignIn{}
	}
	return &s, nil
}

// SaveSignIns writes signins.json, 0600: it holds the credentials.
func (d *Dir) SaveSignIns(s *SignIns) error {
	return d.writeJSON(SignInsFile, s, 0o600)
}
