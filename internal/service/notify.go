package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready tells systemd that start-up has finished (READY=1). Send it once the
// agent serves credentials; a Type=notify unit counts as started only then,
// so units ordered After= it wait for that moment. Ready, like every notify
// helper here, does nothing and returns nil when NOTIFY_SOCKET is unset.
func Ready() error {
	return notify(daemon.SdNotifyReady)
}

// Status sets the free-form status line that `systemctl status` shows
// (STATUS=...). Line breaks in msg are replaced by spaces, because each line
// of a notification is a separate assignment.
func Status(msg string) error {
	msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	return notify("STATUS=" + msg)
}

// Stopping tells systemd that the agent has begun to shut down (STOPPING=1).
func Stopping() error {
	return notify(daemon.SdNotifyStopping)
}

// Reloading tells systemd that the agent is reloading its configuration
// (RELOADING=1, with the monotonic time that newer systemd versions want).
// Call [Ready] when the reload is done.
func Reloading() error {
	return notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
}

// WatchdogInterval reports how often [Watchdog] pings: half of WATCHDOG_USEC,
// or zero when systemd does not watch this process.
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("read systemd watchdog settings: %w", err)
	}
	return d / 2, nil
}

// Watchdog sends WATCHDOG=1 every half watchdog interval, but only while
// healthy reports true, so that systemd restarts an agent whose refresh loop
// is wedged. It returns nil at once when the watchdog is not enabled for this
// process, and ctx's error when ctx is done. A failed send ends it with that
// error.
func Watchdog(ctx context.Context, healthy func() bool) error {
	interval, err := WatchdogInterval()
	if err != nil || interval <= 0 {
		return err
	}

	t := time.NewTicker(interval)
	defer t.Stop()

	return watchdog(ctx, t.C, healthy, notify)
}

// watchdog is the loop of [Watchdog] with its ticks and its sender injected.
func watchdog(ctx context.Context, ticks <-chan time.Time, healthy func() bool, send func(string) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
		}

		if !healthy() {
			continue
		}

		if err := send(daemon.SdNotifyWatchdog); err != nil {
			return err
		}
	}
}

// notify sends one state string to NOTIFY_SOCKET, if it is set.
func notify(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		name, _, _ := strings.Cut(state, "=")
		return fmt.Errorf("notify systemd %s: %w", name, err)
	}
	return nil
}
