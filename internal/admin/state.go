package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edge-agent/edge-agent/internal/atomicfile"
)

// Modes of the local state: nothing in it is readable by others, since it
// holds device private keys.
const (
	stateDirMode  = 0o700
	stateFileMode = 0o600
)

// Names of a device's files in the state folder.
const (
	stateFile = "state.json"
	certFile  = "device.pem.crt"
	keyFile   = "private.pem.key"
	csrFile   = "certificate.csr"
)

// deviceState records what is done for one device, so that a re-run skips
// it. It is rewritten atomically after every step.
type deviceState struct {
	Fleet     string `json:"fleet"`
	Device    string `json:"device"`
	Thing     string `json:"thing"`
	ThingType string `json:"thing_type,omitempty"`
	Bucket    string `json:"bucket"`
	CSR       bool   `json:"csr,omitempty"`

	CertificateID  string `json:"certificate_id,omitempty"`
	CertificateARN string `json:"certificate_arn,omitempty"`
	// Request is the certificate request sent (or about to be sent) to
	// CreateCertificateFromCsr whose answer is not recorded yet.
	Request *certRequestState `json:"certificate_request,omitempty"`
	// Endpoint is the credentials endpoint the device was given.
	Endpoint string `json:"credentials_endpoint,omitempty"`

	// Done holds the names of finished steps.
	Done map[string]bool `json:"done"`
	// Uploaded maps each uploaded file name to the SHA-256 of its content.
	Uploaded map[string]string `json:"uploaded,omitempty"`
}

// certRequestState records a certificate request whose answer may have
// been lost: its CSR is in the state folder (csrFile), and so is its key
// (keyFile) unless the device made the CSR.
type certRequestState struct {
	// At is when the request was recorded, just before the call.
	At time.Time `json:"at"`
	// DeviceCSR is set when the CSR is the device's (--csr).
	DeviceCSR bool `json:"device_csr,omitempty"`
}

func (s *deviceState) done(step string) bool { return s.Done[step] }

// complete reports whether every step of a provision is done.
func (s *deviceState) complete() bool { return s.Done[stepUpload] }

// stateStore is the local state folder:
//
//	<dir>/<fleet>/devices/<device>/state.json, device.pem.crt, private.pem.key
type stateStore struct{ dir string }

func (st *stateStore) deviceDir(fleet, device string) string {
	return filepath.Join(st.fleetDir(fleet), "devices", device)
}

func (st *stateStore) fleetDir(fleet string) string { return filepath.Join(st.dir, fleet) }

// loadDevice returns the device's state, or a fresh one.
func (st *stateStore) loadDevice(fleet, device string) (*deviceState, error) {
	path := filepath.Join(st.deviceDir(fleet, device), stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &deviceState{Fleet: fleet, Device: device, Done: map[string]bool{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	var s deviceState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", path, err)
	}
	if s.Done == nil {
		s.Done = map[string]bool{}
	}
	return &s, nil
}

func (st *stateStore) saveDevice(s *deviceState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", s.Device, err)
	}
	return st.write(s.Fleet, s.Device, stateFile, b)
}

// write puts one file of a device atomically, mode 0600, in a 0700 folder.
func (st *stateStore) write(fleet, device, name string, data []byte) error {
	dir := st.deviceDir(fleet, device)
	if err := mkdirPrivate(dir); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := atomicfile.Write(path, data, atomicfile.Mode(stateFileMode)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (st *stateStore) read(fleet, device, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(st.deviceDir(fleet, device), name))
}

// removeDevice deletes a device's local state and key.
func (st *stateStore) removeDevice(fleet, device string) error {
	if err := os.RemoveAll(st.deviceDir(fleet, device)); err != nil {
		return fmt.Errorf("remove local state of %s: %w", device, err)
	}
	return nil
}

// devices lists the devices of fleet with local state.
func (st *stateStore) devices(fleet string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(st.dir, fleet, "devices"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list local devices of %s: %w", fleet, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// fleetsOf lists the fleets with local state of device.
func (st *stateStore) fleetsOf(device string) ([]string, error) {
	entries, err := os.ReadDir(st.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list local fleets: %w", err)
	}
	var fleets []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(st.deviceDir(e.Name(), device), stateFile)); err == nil {
			fleets = append(fleets, e.Name())
		}
	}
	return fleets, nil
}

func (st *stateStore) removeFleet(fleet string) error {
	if err := os.RemoveAll(filepath.Join(st.dir, fleet)); err != nil {
		return fmt.Errorf("remove local state of fleet %s: %w", fleet, err)
	}
	return nil
}

// mkdirPrivate creates dir and its missing parents with mode 0700.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, stateDirMode); err != nil {
		return fmt.Errorf("create state folder %s: %w", dir, err)
	}
	return nil
}
