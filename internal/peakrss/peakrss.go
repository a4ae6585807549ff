// Package peakrss measures a benchmark's peak resident set: the kernel's high-water
// mark of the process (VmHWM), cleared before the benchmark so that the peak reported
// is its own and not its set-up's.
package peakrss

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// Reset returns the Go runtime's free memory to the system and clears the high-water
// mark (writing 5 to /proc/self/clear_refs, Linux 4.0+): the reset sets the peak to
// the current resident set. It reports false where that is not possible.
func Reset() bool {
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// Report adds the peak resident set since the last Reset as peak-RSS-MiB.
func Report(b *testing.B) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB")); err == nil {
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MiB")
			}
		}
	}
}
