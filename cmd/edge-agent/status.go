package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edge-agent/edge-agent/internal/credserver"
)

// agentStatus is the part of GET /v1/status (CONTRACT.md) this command reads.
type agentStatus struct {
	State               string       `json:"state"`
	ThingName           string       `json:"thing_name"`
	RoleAlias           string       `json:"role_alias"`
	Expiration          string       `json:"expiration"`
	LastRefresh         string       `json:"last_refresh"`
	NextRefresh         string       `json:"next_refresh"`
	ClockSkewSeconds    int64        `json:"clock_skew_seconds"`
	CertificateNotAfter string       `json:"certificate_not_after"`
	LastError           *statusError `json:"last_error"`
	ReloadError         *statusError `json:"reload_error"`
}

// statusError is an error as the status reports it.
type statusError struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

// serving reports whether the daemon holds credentials valid at now.
func (s agentStatus) serving(now time.Time) bool {
	exp, err := time.Parse(time.RFC3339, s.Expiration)
	return (s.State == "serving" || s.State == "degraded") && err == nil && exp.After(now)
}

func newStatusCmd() *cobra.Command {
	var where socketFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the daemon's status; exit 0 while it serves valid credentials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			socket, err := where.path()
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), cmd.OutOrStdout(), socket, asJSON)
		},
	}
	where.bind(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status JSON as the daemon serves it")
	return cmd
}

func runStatus(ctx context.Context, out io.Writer, socket string, asJSON bool) error {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()

	body, err := credserver.FetchStatus(ctx, socket)
	if err != nil {
		return explainFetch(err, socket)
	}
	var st agentStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("read status from %s: %w", socket, err)
	}

	if asJSON {
		_, err = fmt.Fprintf(out, "%s\n", body)
	} else {
		err = printStatus(out, st, time.Now())
	}
	if err != nil {
		return err
	}

	if !st.serving(time.Now()) {
		return fmt.Errorf("not serving valid credentials (state %s)", st.State)
	}
	return nil
}

// printStatus writes st as an aligned two-column table.
func printStatus(out io.Writer, st agentStatus, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }

	row("state", st.State)
	row("thing", orDash(st.ThingName))
	row("role alias", orDash(st.RoleAlias))
	row("credentials expire", when(st.Expiration, now))
	row("last refresh", when(st.LastRefresh, now))
	row("next refresh", when(st.NextRefresh, now))
	if st.LastError != nil {
		row("last error", st.LastError.Class+": "+st.LastError.Message)
	}
	if st.ReloadError != nil {
		row("reload refused", st.ReloadError.Message)
	}
	row("clock skew", (time.Duration(st.ClockSkewSeconds) * time.Second).String())
	row("certificate not after", when(st.CertificateNotAfter, now))

	return tw.Flush()
}

// when shows an RFC 3339 time with its distance from now, rounded for
// reading: "in 364d 23h", "31m ago", "now".
func when(s string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return orDash(s)
	}
	d := t.Sub(now)
	switch h := humanDuration(d.Abs()); {
	case h == "0s":
		return s + " (now)"
	case d > 0:
		return fmt.Sprintf("%s (in %s)", s, h)
	default:
		return fmt.Sprintf("%s (%s ago)", s, h)
	}
}

// humanDuration writes d (not negative) in its two largest units, rounded
// to the smaller one: "364d 23h", "5h 2m", "31m", "3s". Under an hour it
// shows whole minutes, under a minute whole seconds.
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		d = d.Round(time.Second)
	case d < day:
		d = d.Round(time.Minute)
	default:
		d = d.Round(time.Hour)
	}

	days, hours := d/day, d%day/time.Hour
	minutes, seconds := d%time.Hour/time.Minute, d%time.Minute/time.Second
	switch {
	case days > 0:
		return withUnit(days, "d", hours, "h")
	case hours > 0:
		return withUnit(hours, "h", minutes, "m")
	case minutes > 0:
		return fmt.Sprintf("%dm", minutes)
	}
	return fmt.Sprintf("%ds", seconds)
}

// withUnit writes "<a><ua> <b><ub>", leaving out a zero b.
func withUnit(a time.Duration, ua string, b time.Duration, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
