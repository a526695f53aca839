package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"golang.org/x/sync/errgroup"
)

// ManifestEntry is one device of a fleet manifest.
type ManifestEntry struct {
	Device, Thing, ThingType string
	// CSR is the path of the device's CSR file, if it made its own key.
	CSR string
}

// ParseManifest reads a CSV manifest with a header row naming its columns:
// device (required), thing, thing_type, csr. Every name is validated; the
// error gives the line.
func ParseManifest(r io.Reader) ([]ManifestEntry, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read manifest header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["device"]; !ok {
		return nil, errors.New("manifest header: no device column (want device[,thing,thing_type,csr])")
	}

	var out []ManifestEntry
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		line, _ := cr.FieldPos(0)
		e, err := manifestEntry(rec, col)
		if err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", line, err)
		}
		if prev, dup := seen[e.Device]; dup {
			return nil, fmt.Errorf("manifest line %d: device %s is already on line %d", line, e.Device, prev)
		}
		seen[e.Device] = line
		out = append(out, e)
	}
}

func manifestEntry(rec []string, col map[string]int) (ManifestEntry, error) {
	get := func(name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	o := DeviceOptions{Fleet: "x", Device: get("device"), Thing: get("thing"), ThingType: get("thing_type")}
	if err := o.validate(); err != nil {
		return ManifestEntry{}, err
	}
	return ManifestEntry{Device: o.Device, Thing: o.Thing, ThingType: o.ThingType, CSR: get("csr")}, nil
}

// BulkOptions describes admin fleet provision.
type BulkOptions struct {
	Fleet    string
	Manifest []ManifestEntry
	// Bucket receives the files; default the fleet's output bucket.
	Bucket string
	RootCA []byte
	// Concurrency bounds the devices in flight (default 8); the rate
	// limits of [Options.Limits] bound the calls.
	Concurrency int
	// RegisterBatch is the number of devices per RegisterDevices call
	// (default 10).
	RegisterBatch int
	// Recheck verifies done steps with read calls.
	Recheck bool
	// Progress receives progress; nil means none.
	Progress Progress
	// DryRun lists each device's remaining steps in Plan, from the local
	// state, and calls nothing.
	DryRun bool
}

// DeviceFailure is one device that did not finish.
type DeviceFailure struct {
	Device string `json:"device"`
	Step   string `json:"step,omitempty"`
	Error  string `json:"error"`
}

// BulkResult summarizes a fleet provision.
type BulkResult struct {
	Fleet       string          `json:"fleet"`
	Total       int             `json:"total"`
	Provisioned int             `json:"provisioned"`
	AlreadyDone int             `json:"already_done"`
	Failed      []DeviceFailure `json:"failed,omitempty"`
	Interrupted bool            `json:"interrupted,omitempty"`
	// Plan is a dry run's list of devices and their remaining steps.
	Plan    []string      `json:"plan,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// bulkDevice is one device in flight.
type bulkDevice struct {
	st  *deviceState
	csr []byte
	res DeviceResult
	err error
}

// ProvisionFleet provisions every device of a manifest: things first
// (bounded concurrency), then SageMaker registration in batches, then the
// certificate, attachments and upload of each device. Each step is
// recorded as it ends, so an interrupted run (Ctrl-C, a crash) resumes
// where it stopped; devices already finished are skipped without a call.
func (a *Admin) ProvisionFleet(ctx context.Context, o BulkOptions) (res BulkResult, err error) {
	start := time.Now()
	res = BulkResult{Fleet: o.Fleet, Total: len(o.Manifest)}
	o.setDefaults()
	if o.DryRun {
		return res, a.planFleet(o, &res)
	}
	fleet, err := a.LookupFleet(ctx, o.Fleet)
	if err != nil {
		return res, err
	}
	p := a.newProvisioner(fleet, o.RootCA, o.Recheck)
	defer func() { res.Elapsed = time.Since(start) }()

	pending, err := a.loadPending(o, p, &res)
	if err != nil {
		return res, err
	}
	o.Progress.Start(res.Total, res.AlreadyDone)
	defer o.Progress.Finish()

	a.bulkPhase(ctx, p, pending, []string{stepThingType, stepThing}, o)
	a.registerBatches(ctx, p, pending, o.RegisterBatch)
	a.bulkPhase(ctx, p, pending, allSteps, o)

	for _, d := range pending {
		switch {
		case d.err == nil && d.st.complete():
			res.Provisioned++
		case d.err != nil:
			res.Failed = append(res.Failed, DeviceFailure{Device: d.st.Device, Step: d.res.FailedStep, Error: Explain(d.err).Error()})
		}
	}
	if ctx.Err() != nil {
		res.Interrupted = true
		return res, fmt.Errorf("fleet provision interrupted after %d of %d devices (re-run to resume): %w",
			res.Provisioned+res.AlreadyDone, res.Total, ctx.Err())
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("fleet provision: %d of %d devices failed (re-run to retry them)", len(res.Failed), res.Total)
	}
	return res, nil
}

func (o *BulkOptions) setDefaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.RegisterBatch <= 0 {
		o.RegisterBatch = 10
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
}

// planFleet lists each device of the manifest with the steps its local
// state does not record as done.
func (a *Admin) planFleet(o BulkOptions, res *BulkResult) error {
	for _, e := range o.Manifest {
		st, err := a.state.loadDevice(o.Fleet, e.Device)
		if err != nil {
			return err
		}
		if st.complete() && !o.Recheck {
			res.AlreadyDone++
			res.Plan = append(res.Plan, e.Device+": done (local state)")
			continue
		}
		var todo []string
		for _, step := range allSteps {
			if !st.done(step) || o.Recheck {
				todo = append(todo, step)
			}
		}
		line := e.Device + ": to do: " + strings.Join(todo, ", ")
		if st.Request != nil && st.CertificateID == "" {
			line += " (the certificate an interrupted run requested at " + st.Request.At.Format(time.RFC3339) +
				" is looked for first)"
		}
		res.Plan = append(res.Plan, line)
	}
	return nil
}

// loadPending reads each device's state; finished devices are counted and
// left out.
func (a *Admin) loadPending(o BulkOptions, p *provisioner, res *BulkResult) ([]*bulkDevice, error) {
	var pending []*bulkDevice
	for _, e := range o.Manifest {
		st, err := a.state.loadDevice(o.Fleet, e.Device)
		if err != nil {
			return nil, err
		}
		if st.complete() && !o.Recheck {
			res.AlreadyDone++
			continue
		}
		d := &bulkDevice{st: st}
		if e.CSR != "" {
			if d.csr, err = os.ReadFile(e.CSR); err != nil {
				return nil, fmt.Errorf("read csr of %s: %w", e.Device, err)
			}
		}
		do := DeviceOptions{Fleet: o.Fleet, Device: e.Device, Thing: e.Thing, ThingType: e.ThingType, Bucket: o.Bucket, CSR: d.csr}
		if err := do.validate(); err != nil {
			return nil, err
		}
		if err := p.adopt(st, &do); err != nil {
			return nil, err
		}
		pending = append(pending, d)
	}
	return pending, nil
}

// bulkPhase runs steps for every pending device that has not failed.
func (a *Admin) bulkPhase(ctx context.Context, p *provisioner, pending []*bulkDevice, steps []string, o BulkOptions) {
	var g errgroup.Group
	g.SetLimit(o.Concurrency)
	last := steps[len(steps)-1] == stepUpload
	for _, d := range pending {
		if d.err != nil || ctx.Err() != nil {
			continue
		}
		g.Go(func() error {
			d.res = DeviceResult{}
			d.err = p.runWith(ctx, d.st, steps, d.csr, &d.res)
			if last || d.err != nil {
				o.Progress.Done(d.st.Device, d.err)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// registerBatches registers the devices whose things exist with the
// SageMaker fleet, RegisterBatch at a time.
func (a *Admin) registerBatches(ctx context.Context, p *provisioner, pending []*bulkDevice, size int) {
	var batch []*bulkDevice
	for _, d := range pending {
		if d.err == nil && !d.st.done(stepRegister) {
			batch = append(batch, d)
		}
		if len(batch) == size {
			a.registerBatch(ctx, p, batch)
			batch = nil
		}
	}
	if len(batch) > 0 {
		a.registerBatch(ctx, p, batch)
	}
}

// registerBatch registers one batch; a failed batch leaves the step to each
// device's own call in the next phase.
func (a *Admin) registerBatch(ctx context.Context, p *provisioner, batch []*bulkDevice) {
	if ctx.Err() != nil {
		return
	}
	if p.fleet.SageMaker {
		devices := make([]smtypes.Device, len(batch))
		for i, d := range batch {
			devices[i] = smtypes.Device{DeviceName: aws.String(d.st.Device), IotThingName: aws.String(d.st.Thing)}
		}
		_, err := a.sm.RegisterDevices(ctx, &sagemaker.RegisterDevicesInput{DeviceFleetName: aws.String(p.fleet.Name), Devices: devices})
		if err != nil {
			a.log.Debug("batch registration failed; devices will register one by one")
			return
		}
	}
	for _, d := range batch {
		d.st.Done[stepRegister] = true
		if err := a.state.saveDevice(d.st); err != nil {
			d.err = err
		}
	}
}

// Progress receives a fleet provision's progress.
type Progress interface {
	// Start is called once with the number of devices and how many were
	// already done.
	Start(total, done int)
	// Done is called when a device finishes or fails.
	Done(device string, err error)
	// Finish is called at the end.
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(int, int)     {}
func (nopProgress) Done(string, error) {}
func (nopProgress) Finish()            {}

// NewProgress returns a progress bar redrawn in place when w is a
// terminal, and otherwise a plain line every 10% or 5 s.
func NewProgress(w io.Writer) Progress {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if fi, err := f.Stat(); err == nil {
			tty = fi.Mode()&os.ModeCharDevice != 0
		}
	}
	return &lineProgress{w: w, tty: tty, now: time.Now}
}

type lineProgress struct {
	w   io.Writer
	tty bool
	now func() time.Time

	mu                  sync.Mutex
	total, done, failed int
	start, lastLine     time.Time
	lastPct             int
}

func (p *lineProgress) Start(total, done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.done, p.start, p.lastLine = total, done, p.now(), p.now()
	p.draw(true)
}

func (p *lineProgress) Done(_ string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if err != nil {
		p.failed++
	}
	p.draw(false)
}

func (p *lineProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *lineProgress) draw(force bool) {
	pct := 100
	if p.total > 0 {
		pct = p.done * 100 / p.total
	}
	elapsed := p.now().Sub(p.start)
	rate := float64(p.done) / max(elapsed.Seconds(), 0.001)
	if p.tty {
		const width = 30
		bar := strings.Repeat("=", pct*width/100) + strings.Repeat(" ", width-pct*width/100)
		fmt.Fprintf(p.w, "\r[%s] %d/%d devices, %d failed, %.1f/s ", bar, p.done, p.total, p.failed, rate)
		return
	}
	if !force && pct/10 == p.lastPct/10 && p.now().Sub(p.lastLine) < 5*time.Second {
		return
	}
	p.lastPct, p.lastLine = pct, p.now()
	fmt.Fprintf(p.w, "progress: %d/%d devices (%d%%), %d failed, %s elapsed\n",
		p.done, p.total, pct, p.failed, elapsed.Round(time.Second))
}
