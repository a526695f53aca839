package sandbox

import "sync"

// controlPlanes maps each started [Sandbox] to its control plane; the
// Sandbox type belongs to sandbox.go, so the link lives here.
var controlPlanes sync.Map // *Sandbox -> *ControlPlane

func init() {
	registerStartHook(mountControlPlane)
}

// mountControlPlane serves the IoT, SageMaker and IAM calls on the
// sandbox's control listener.
func mountControlPlane(sb *Sandbox) error {
	cp := NewControlPlane(ControlOptions{
		State:               sb.State,
		Issuer:              sb.Authority,
		CredentialsEndpoint: sb.CredentialsEndpoint,
		Now:                 sb.opts.Now,
		Logger:              sb.log,
	})
	cp.Register(sb.Control)
	controlPlanes.Store(sb, cp)
	return nil
}

// ControlPlane returns the sandbox's IoT, SageMaker and IAM control plane,
// served at ControlURL, for injecting faults, throttling and reading call
// counters.
func (sb *Sandbox) ControlPlane() *ControlPlane {
	cp, _ := controlPlanes.Load(sb)
	c, _ := cp.(*ControlPlane)
	return c
}
