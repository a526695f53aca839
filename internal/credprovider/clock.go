package credprovider

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// Clock is the time source of a [Cache]; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock, the default of [CacheOptions].
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// cryptoFloat returns a uniform number in [0, 1) from crypto/rand, so that
// the devices of a fleet do not share a jitter sequence.
func cryptoFloat() float64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0.5
	}

	return float64(binary.LittleEndian.Uint64(b[:])>>11) / (1 << 53)
}
