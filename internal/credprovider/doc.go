// Package credprovider obtains temporary AWS credentials from the AWS IoT
// credentials provider with the device certificate, and keeps them fresh.
//
// [Client] makes one mutual-TLS call to
// https://<endpoint>/role-aliases/<alias>/credentials and classifies what went
// wrong as a typed [*Error]. [Cache] sits in front of a [Fetcher] (normally a
// [*Client]): it serves cached credentials, refreshes them at about half of
// their lifetime with jitter, lets one upstream call run at a time however many
// callers ask, backs off after failures, persists the last good credentials so
// that a restart during an outage can still serve them, and reports its state in
// the shape of the local API's GET /v1/status.
//
// Secrets never reach logs or error strings: [Credentials] redacts itself in
// fmt, JSON and zap renderings, and only [Credentials.ContainerJSON] and
// [Credentials.ProcessJSON] write the secret key and session token, for the
// local endpoints that hand them to SDKs.
package credprovider
