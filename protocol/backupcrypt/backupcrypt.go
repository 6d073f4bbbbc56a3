// Package backupcrypt seals the secrets of a Tally backup (the cluster CA's
// private key, member password hashes) under an operator's passphrase:
// scrypt derives the key, AES-256-GCM encrypts and authenticates. A backup
// file is then safe to keep where backups are kept; without the passphrase
// it says nothing a token holder could use.
package backupcrypt

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// MinPassphrase is the shortest passphrase accepted: the sealed file may be
// attacked offline, so the passphrase is the whole of its protection.
const MinPassphrase = 12

// scrypt cost: about 100 ms and 32 MiB per attempt (N=2^15, r=8, p=1).
const (
	kdfScrypt = "scrypt"
	scryptN   = 1 << 15
	scryptR   = 8
	scryptP   = 1
)

// Sealed is encrypted data with what is needed to open it, except the
// passphrase.
type Sealed struct {
	KDF        string `json:"kdf"`
	N          int    `json:"n"`
	R          int    `json:"r"`
	P          int    `json:"p"`
	Salt       []byte `json:"salt"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// ErrWrongPassphrase is returned by Open when the passphrase (or the
// associated data) does not match.
var ErrWrongPassphrase = errors.New("wrong passphrase, or the sealed data was altered")

// CheckPassphrase refuses a passphrase too short to protect a backup.
func CheckPassphrase(p []byte) error {
	if len(p) < MinPassphrase {
		return fmt.Errorf("the backup passphrase must be at least %d characters (got %d)", MinPassphrase, len(p))
	}
	return nil
}

// Seal encrypts plain under passphrase; aad (e.g. the cluster ID) is bound
// to the ciphertext without being secret.
func Seal(plain, passphrase, aad []byte) (*Sealed, error) {
	if err := CheckPassphrase(passphrase); err != nil {
		return nil, err
	}
	s := &Sealed{KDF: kdfScrypt, N: scryptN, R: scryptR, P: scryptP, Salt: make([]byte, 16)}
	if _, err := rand.Read(s.Salt); err != nil {
		return nil, fmt.Errorf("backup salt: %w", err)
	}
	aead, err := s.aead(passphrase)
	if err != nil {
		return nil, err
	}
	s.Nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, fmt.Errorf("backup nonce: %w", err)
	}
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, aad)
	return s, nil
}

// Open decrypts s with passphrase and the same aad it was sealed with.
func Open(s *Sealed, passphrase, aad []byte) ([]byte, error) {
	if s == nil {
		return nil, errors.New("nothing sealed")
	}
	if s.KDF != kdfScrypt {
		return nil, fmt.Errorf("unknown key derivation %q (want scrypt)", s.KDF)
	}
	// Bounds on the cost parameters, so a crafted file cannot make the
	// reader spend gigabytes or hours deriving a key.
	if s.N < 1<<14 || s.N > 1<<20 || s.N&(s.N-1) != 0 || s.R < 1 || s.R > 16 || s.P < 1 || s.P > 4 || len(s.Salt) < 16 {
		return nil, fmt.Errorf("scrypt parameters N=%d r=%d p=%d salt=%d bytes are out of range", s.N, s.R, s.P, len(s.Salt))
	}
	aead, err := s.aead(passphrase)
	if err != nil {
		return nil, err
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("nonce of %d bytes, want %d", len(s.Nonce), aead.NonceSize())
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, aad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return plain, nil
}

func (s *Sealed) aead(passphrase []byte) (cipher.AEAD, error) {
	key, err := scrypt.Key(passphrase, s.Salt, s.N, s.R, s.P, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the backup key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ReadPassphrase reads a passphrase from file (its first line), or, when
// file is empty, from the terminal without echo after printing prompt to
// stderr. It refuses to read a passphrase from a pipe or a file given as
// stdin, so a script cannot leak one into shell history by accident: it
// names the file instead.
func ReadPassphrase(file, prompt string) ([]byte, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the passphrase file: %w", err)
		}
		defer f.Close()
		line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read the passphrase file %s: %w", file, err)
		}
		p := []byte(strings.TrimRight(line, "\r\n"))
		if len(p) == 0 {
			return nil, fmt.Errorf("the passphrase file %s is empty", file)
		}
		return p, nil
	}
	return readTerminal(prompt)
}
