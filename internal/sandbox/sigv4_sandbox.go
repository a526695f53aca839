package sandbox

import (
	"net/http"
)

func init() { registerS3Middleware(requireSigV4) }

// requireSigV4 wraps the S3 handler with a [SigV4Verifier] when
// [Options.RequireSigV4] is set. Keys are the credentials the sandbox's
// credentials provider issued, checked against the sandbox clock, and the
// static key that [Sandbox.S3Client] signs with.
func requireSigV4(sb *Sandbox, next http.Handler) http.Handler {
	if !sb.opts.RequireSigV4 {
		return next
	}
	v := NewSigV4Verifier(SigV4Options{
		Lookup:     sb.sigV4Key,
		StaticKeys: map[string]string{AdminAccessKeyID: AdminSecretAccessKey},
		Now:        sb.opts.Now,
		Logger:     sb.log.Named("s3.sigv4"),
	})
	return v.Wrap(next)
}

// sigV4Key finds an issued access key for the verifier.
func (sb *Sandbox) sigV4Key(accessKeyID string) (SigV4Key, bool) {
	c, ok := sb.Issued.Lookup(accessKeyID)
	if !ok {
		return SigV4Key{}, false
	}
	return SigV4Key{SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expiration}, true
}
