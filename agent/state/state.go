// Package state is tally-agent's state directory: the device identity
// (device.json), its key and certificate (device.key, device.pem) and the
// lease cache (leases.json).
//
// The directory is created 0700. Every file is written atomically (a temp
// file in the same directory, fsync, rename, fsync of the directory), so a
// crash leaves either the old or the new content, never a torn file.
//
// Design: docs/design.md#parts.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// File names inside the state directory.
const (
	DeviceFile = "device.json"
	KeyFile    = "device.key"
	CertFile   = "device.pem"
	CacheFile  = "leases.json"
	// JWKSFile is the cluster's public lease-signing keys as last received.
	JWKSFile = "jwks.json"
)

// Device is the content of device.json.
type Device struct {
	DeviceCode string `json:"device_code"`
	Account    string `json:"account,omitempty"`
	// ServerCAFingerprint is "sha256:<hex>" of the CA certificate the device
	// enrolled against.
	ServerCAFingerprint string    `json:"server_ca_fingerprint,omitempty"`
	EnrolledAt          time.Time `json:"enrolled_at,omitzero"`
}

// Cache is the content of leases.json: the leases the device holds, plus
// what must survive the leases being released.
type Cache struct {
	// ServerTime is the high-water mark of server time the agent has seen. It
	// only moves forward.
	ServerTime time.Time `json:"server_time,omitzero"`
	// Servers is the cluster's agent addresses as last learned from a server.
	Servers []string         `json:"servers,omitempty"`
	Leases  []protocol.Lease `json:"leases"`
}

// Dir is an open state directory.
type Dir struct {
	path string
}

// Open opens the state directory at path, creating it (0700) if needed.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("state directory not set")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	return &Dir{path: path}, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// File returns the path of name inside the directory.
func (d *Dir) File(name string) string { return filepath.Join(d.path, name) }

// LoadDevice reads device.json, creating it with a new random Device Code on
// first use. A device.json whose Device Code is malformed is an error, never
// silently replaced: the code identifies the device to the cluster.
func (d *Dir) LoadDevice() (*Device, error) { return d.LoadOrCreateDevice(NewDeviceCode) }

// LoadOrCreateDevice is LoadDevice with the Device Code of a new device.json
// made by newCode (the agent derives it from the machine identity).
func (d *Dir) LoadOrCreateDevice(newCode func() (string, error)) (*Device, error) {
	var dev Device
	err := d.readJSON(DeviceFile, &dev)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code, err := newCode()
		if err != nil {
			return nil, err
		}
		if err := ValidateDeviceCode(code); err != nil {
			return nil, err
		}
		dev = Device{DeviceCode: code}
		if err := d.SaveDevice(&dev); err != nil {
			return nil, err
		}
		return &dev, nil
	case err != nil:
		return nil, err
	}
	if err := ValidateDeviceCode(dev.DeviceCode); err != nil {
		return nil, fmt.Errorf("%s: %w", d.File(DeviceFile), err)
	}
	return &dev, nil
}

// SaveDevice writes device.json.
func (d *Dir) SaveDevice(dev *Device) error {
	return d.writeJSON(DeviceFile, dev, 0o600)
}

// Enrolled reports whether the device has both its key and its certificate.
func (d *Dir) Enrolled() bool {
	for _, name := range []string{KeyFile, CertFile} {
		if _, err := os.Stat(d.File(name)); err != nil {
			return false
		}
	}
	return true
}

// LoadCredentials returns the PEM-encoded device certificate and key.
func (d *Dir) LoadCredentials() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(d.File(CertFile)); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(d.File(KeyFile)); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// SaveCredentials writes the device key (0600) and then its certificate
// (0644). The certificate is written last: its presence is what marks the
// device as enrolled.
func (d *Dir) SaveCredentials(certPEM, keyPEM []byte) error {
	if err := WriteFileAtomic(d.File(KeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(d.File(CertFile), certPEM, 0o644)
}

// LoadCache reads leases.json; a missing file is an empty cache.
func (d *Dir) LoadCache() (*Cache, error) {
	var c Cache
	err := d.readJSON(CacheFile, &c)
	if errors.Is(err, fs.ErrNotExist) {
		return &Cache{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadJWKS returns the cached JWKS document, or nil when none was saved.
func (d *Dir) LoadJWKS() ([]byte, error) {
	b, err := os.ReadFile(d.File(JWKSFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// SaveJWKS writes jwks.json (public keys: 0644).
func (d *Dir) SaveJWKS(b []byte) error {
	return WriteFileAtomic(d.File(JWKSFile), b, 0o644)
}

// SaveCache writes leases.json (0600: it holds bearer tokens).
func (d *Dir) SaveCache(c *Cache) error {
	if c.Leases == nil {
		c = &Cache{ServerTime: c.ServerTime, Servers: c.Servers, Leases: []protocol.Lease{}}
	}
	return d.writeJSON(CacheFile, c, 0o600)
}

func (d *Dir) readJSON(name string, v any) error {
	b, err := os.ReadFile(d.File(name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is corrupt: %w", d.File(name), err)
	}
	return nil
}

func (d *Dir) writeJSON(name string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return WriteFileAtomic(d.File(name), append(b, '\n'), perm)
}

// WriteFileAtomic replaces path with data: it writes a temp file with mode
// perm in the same directory, syncs it, renames it over path and syncs the
// directory. Readers see the old or the new content, never a mix, and the
// file never exists with a wider mode than perm.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; set the mode asked for before any data lands.
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable. Some platforms cannot sync a directory;
// the rename itself is still atomic there.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
