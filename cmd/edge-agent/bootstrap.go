package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/bootstrap"
	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
)

// bootstrapFlags are the flags of `edge-agent bootstrap`.
type bootstrapFlags struct {
	bucket, prefix, region, endpointURL string
	fromDir                             string
	fromURL                             []string
	identityDir, configPath             string
	thing, roleAlias, endpoint          string
	owner                               string
	allowCustomEndpoint, force, verify  bool
	timeout                             time.Duration
}

const bootstrapExamples = `  # From S3, with the AWS SDK's default credentials (environment, ~/.aws, instance role)
  edge-agent bootstrap --bucket my-fleet-auth --prefix devices/sensor-0042 --region eu-west-1

  # From a folder, writing the agent config as well
  edge-agent bootstrap --from-dir /media/usb/sensor-0042 \
    --thing sensor-0042 --role-alias SageMakerEdge-fleet-a \
    --endpoint c1a2b3.credentials.iot.eu-west-1.amazonaws.com

  # From presigned HTTPS URLs (quote them: they contain '&')
  edge-agent bootstrap --from-url cert='https://...' --from-url key='https://...' --from-url ca='https://...'

  # Replace a valid identity and check it with one credentials call
  edge-agent bootstrap --from-dir ./auth --force --verify`

// newBootstrapCmd builds `edge-agent bootstrap`.
func newBootstrapCmd() *cobra.Command {
	f := bootstrapFlags{}
	cmd := &cobra.Command{
		Use:   "bootstrap (--bucket B [--prefix P] | --from-dir DIR | --from-url cert=URL --from-url key=URL --from-url ca=URL)",
		Short: "Fetch, check and install this device's certificate, key and root CA",
		Long: `bootstrap fetches the device's authorization files (device.pem.crt,
private.pem.key, AmazonRootCA1.pem and, if present, edge-agent.yaml) from one
source, checks all of them, and only then installs them into the identity
folder and the agent configuration. A valid identity that is already installed
is kept unless --force is given.

--thing, --role-alias, --endpoint and --allow-custom-endpoint write or override
those keys of edge-agent.yaml (or of the current config file). --endpoint also
sets region from the endpoint's host name. When a valid identity is kept, they
still update the current config file; nothing is fetched then.

The service runs as the edge-agent user, bootstrap usually as root. So that the
service can read what bootstrap writes, --owner USER[:GROUP] gives the identity
folder and its files to USER:GROUP and config.yaml to root:GROUP (mode 0640);
GROUP defaults to USER's primary group. Without --owner, running as root, the
edge-agent user is used if it exists (the package creates it); otherwise files
belong to whoever runs bootstrap. --owner root keeps everything root's. A kept
identity is given to the owner too, which repairs an older root-owned install.

An endpoint that does not answer fails the command after --timeout (2m by
default) with one line that names it; each S3 request also gives up on its
own (10s to connect, 30s for an answer, at most 3 tries).

Exit status: 0 when the identity is installed or already valid, 1 on error.`,
		Example: bootstrapExamples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBootstrap(cmd, f)
		},
	}
	addBootstrapFlags(cmd, &f)
	return cmd
}

func addBootstrapFlags(cmd *cobra.Command, f *bootstrapFlags) {
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&f.bucket, "bucket", "", "S3 bucket name (not an s3:// URI) that holds the authorization files")
	fs.StringVar(&f.prefix, "prefix", "", "S3 key prefix (folder) of the files, e.g. devices/sensor-0042")
	fs.StringVar(&f.region, "region", "", "region of the S3 bucket, e.g. eu-west-1 (default: the SDK's, else us-east-1; any name with --endpoint-url)")
	fs.StringVar(&f.endpointURL, "endpoint-url", "", "S3 endpoint URL, for S3-compatible stores (path-style)")
	fs.StringVar(&f.fromDir, "from-dir", "", "local folder that holds the authorization files")
	fs.StringArrayVar(&f.fromURL, "from-url", nil, "presigned HTTPS URL per file: cert=URL, key=URL, ca=URL, optional config=URL")
	fs.StringVar(&f.identityDir, "identity-dir", config.Default().IdentityDir, "identity folder to install into")
	fs.StringVar(&f.configPath, "config", "", "agent config file to write (default $"+config.PathEnv+", else "+config.DefaultPath+")")
	fs.StringVar(&f.thing, "thing", "", "IoT thing name to write into the config (thing_name)")
	fs.StringVar(&f.roleAlias, "role-alias", "", "IoT role alias to write into the config (role_alias)")
	fs.StringVar(&f.endpoint, "endpoint", "", "IoT credentials endpoint to write into the config (credential_endpoint)")
	fs.BoolVar(&f.allowCustomEndpoint, "allow-custom-endpoint", false, "accept any host[:port] as credentials endpoint (test setups)")
	fs.StringVar(&f.owner, "owner", "", "`USER[:GROUP]` to give the identity, and config.yaml's group, to (default: "+bootstrap.ServiceUser+" when run as root and that user exists)")
	fs.BoolVar(&f.force, "force", false, "replace an installed identity even if it is valid")
	fs.BoolVar(&f.verify, "verify", false, "make one credentials call with the new identity before installing it")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up after this long (each S3 request also has its own timeouts and at most 3 tries)")
}

func runBootstrap(cmd *cobra.Command, f bootstrapFlags) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	src, err := bootstrapSource(ctx, f)
	if err != nil {
		return err
	}
	owner, err := bootstrap.ResolveOwner(f.owner)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	opts := bootstrap.Options{
		Source:      src,
		IdentityDir: f.identityDir,
		ConfigPath:  bootstrapConfigPath(f.configPath),
		Force:       f.force,
		Owner:       owner,
		Timeout:     f.timeout,
		Settings: bootstrap.Settings{
			ThingName:           f.thing,
			RoleAlias:           f.roleAlias,
			CredentialEndpoint:  f.endpoint,
			AllowCustomEndpoint: f.allowCustomEndpoint,
		},
	}
	if f.verify {
		opts.Verify = bootstrap.VerifyCredentials
	}

	res, err := bootstrap.Run(ctx, opts)
	if err != nil {
		return oneLine(err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), res.String())
	return nil
}

// bootstrapSource picks the one source the flags name.
func bootstrapSource(ctx context.Context, f bootstrapFlags) (bootstrap.Source, error) {
	n := 0
	for _, set := range []bool{f.bucket != "", f.fromDir != "", len(f.fromURL) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("bootstrap: give exactly one source: --bucket, --from-dir or --from-url (see --help)")
	}
	if f.bucket == "" && (f.prefix != "" || f.region != "" || f.endpointURL != "") {
		return nil, errors.New("bootstrap: --prefix, --region and --endpoint-url go with --bucket")
	}

	switch {
	case f.fromDir != "":
		return bootstrap.DirSource{Dir: f.fromDir}, nil
	case len(f.fromURL) > 0:
		urls, err := parseFromURLs(f.fromURL)
		return bootstrap.URLSource{URLs: urls}, err
	}
	return bootstrap.NewS3Source(ctx, bootstrap.S3Options{
		Bucket: f.bucket, Prefix: f.prefix, Region: f.region, EndpointURL: f.endpointURL,
	})
}

// urlKinds maps the names used with --from-url to file names.
var urlKinds = map[string]string{
	"cert":   certstore.CertFile,
	"key":    certstore.KeyFile,
	"ca":     certstore.CAFile,
	"config": bootstrap.ConfigFile,
}

// parseFromURLs turns cert=URL, key=URL, ca=URL (and config=URL) into a
// map by file name. Errors never repeat a URL: it holds a signature.
func parseFromURLs(args []string) (map[string]string, error) {
	urls := map[string]string{}
	for _, a := range args {
		kind, u, ok := strings.Cut(a, "=")
		name, known := urlKinds[kind]
		if !ok || !known || u == "" {
			return nil, fmt.Errorf("bootstrap: --from-url takes cert=URL, key=URL, ca=URL or config=URL; got one starting %q", firstWord(a))
		}
		if _, dup := urls[name]; dup {
			return nil, fmt.Errorf("bootstrap: --from-url %s= given twice", kind)
		}
		urls[name] = u
	}

	var missing []string
	for kind, name := range urlKinds {
		if _, ok := urls[name]; !ok && kind != "config" {
			missing = append(missing, kind+"=")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("bootstrap: --from-url is missing %s", strings.Join(missing, ", "))
	}
	return urls, nil
}

// firstWord returns a's text up to the first '=' or ':' and at most 10
// characters, to show which argument is wrong without a URL's secrets.
func firstWord(a string) string {
	if i := strings.IndexAny(a, "=:"); i >= 0 {
		a = a[:i]
	}
	if len(a) > 10 {
		a = a[:10]
	}
	return a
}

// bootstrapConfigPath is --config, else EDGE_AGENT_CONFIG, else the default.
func bootstrapConfigPath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv(config.PathEnv); p != "" {
		return p
	}
	return config.DefaultPath
}

// oneLine keeps an error to one line on stderr, as CONTRACT.md promises.
func oneLine(err error) error {
	if !strings.Contains(err.Error(), "\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}
