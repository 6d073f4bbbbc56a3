package state

import (
	"os"
	"testing"
)

// FuzzStateFiles: the agent's state files (device.json, leases.json,
// signins.json, jwks.json), which another process or a damaged disk may
// have written, never panic the agent that reads them.
func FuzzStateFiles(f *testing.F) {
	f.Add([]byte(`{"device_code":"ABCD-EFGH-JKLM","account":"acme"}`))
	f.Add([]byte(`{"leases":[{"id":1,"feature":"cad","token":"x"}]}`))
	f.Add([]byte(`{"sign_ins":[null]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{DeviceFile, CacheFile, SignInsFile, JWKSFile} {
			if err := os.WriteFile(d.File(name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = d.LoadOrCreateDevice(func() (string, error) { return "ABCD-EFGH-JKLM", nil })
		_, _ = d.LoadCache()
		_, _ = d.LoadSignIns()
		_, _ = d.LoadJWKS()
	})
}
