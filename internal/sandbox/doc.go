// Package sandbox is a local stand-in for the AWS endpoints that edge-agent
// talks to: S3, the IoT credentials provider, and the IoT, SageMaker and IAM
// control-plane calls. It speaks the real wire protocols so that tests and the
// demo drive it with the real SDK clients and real TLS. It is never linked
// into the edge-agent binary.
//
// # Listeners
//
// [Start] opens four loopback listeners, each on its own port:
//
//   - the IoT credentials provider ([Sandbox.CredentialsEndpoint],
//     "127.0.0.1:PORT"): HTTPS, TLS 1.2 or newer, a client certificate
//     signed by the sandbox CA required. GET
//     /role-aliases/<alias>/credentials looks the client certificate up by
//     its ID (the lower-case hex SHA-256 of its DER, as IoT does) in
//     [State] and asks [State.AuthorizeRoleAlias]; it answers with fresh
//     random credentials in IoT's JSON, or with IoT's status and
//     {"message": ...}. A certificate from another CA fails the handshake,
//     as at AWS. Issued credentials are kept in [Sandbox.Issued].
//   - S3 ([Sandbox.S3URL]): github.com/johannesboyne/gofakes3 with its
//     in-memory backend, plain HTTP, path-style. It accepts any
//     credentials unless [Options.RequireSigV4] is set; then only the
//     admin key ([AdminAccessKeyID], which [Sandbox.S3Client] signs with)
//     and unexpired credentials from [Sandbox.Issued].
//   - the control plane ([Sandbox.ControlURL]): plain HTTP, an
//     [net/http.ServeMux] ([Sandbox.Control]) on which the control-plane
//     services mount their routes.
//   - the admin endpoint ([Sandbox.AdminURL]): plain HTTP, to flip the
//     credentials provider's faults and read its counters from another
//     process (GET/PUT/DELETE /faults, GET /stats, GET /healthz).
//
// # The sandbox CA
//
// The [CA] is a self-signed ECDSA P-256 root. It signs the credentials
// provider's server certificate (for 127.0.0.1, ::1 and localhost) and the
// device certificates, and devices receive it as AmazonRootCA1.pem, so the
// agent pins it exactly as it pins Amazon Root CA 1 in production.
//
// # Faults
//
// [Sandbox.SetFaults] (or PUT /faults on the admin endpoint) makes the
// credentials provider answer 403, 404, 429 with Retry-After, 500, slowly,
// with garbage, with HTML or with a huge body, for the next N calls or
// until changed. [Sandbox.CredentialCalls] and
// [Sandbox.CredentialCallsByStatus] count the calls that reached it.
//
// # The AWS SDK and gofakes3
//
// aws-sdk-go-v2's S3 client (v1.116) computes a CRC32 checksum for every
// upload by default. Over TLS it sends the body aws-chunked with a trailing
// checksum, which gofakes3 is known to store wrongly (issue 2); that is why
// S3 is plain HTTP. To be independent of the transport, clients of the
// sandbox S3 may also set
//
//	RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired
//	ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired
//
// as [Sandbox.S3Client] does. Tests show that a PutObject and GetObject
// with the real client round-trip byte-exact with and without that setting
// over plain HTTP.
//
// # Extending the sandbox
//
// Other files of this package add services without changing [Start]:
//
//   - registerStartHook(func(sb *Sandbox) error) runs at every Start once
//     the credentials provider and S3 are listening (their addresses are
//     set) and before the control listener serves: mount a service with
//     sb.Control.Handle or ControlPlane.Register(sb.Control). AWS gives each
//     service its own host; here IoT's REST-JSON paths, SageMaker's JSON
//     1.1 (POST / with X-Amz-Target) and IAM's query protocol (POST / with
//     a form Action) share one listener, so a service that owns "POST /"
//     dispatches on those headers.
//   - registerS3Middleware(func(sb *Sandbox, next http.Handler)
//     http.Handler) wraps the gofakes3 handler, for example with a SigV4
//     check whose keys come from [Sandbox.Issued].Lookup.
//
// Tests may also mount handlers on [Sandbox.Control] after Start.
package sandbox
