package onprem

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// resetPeakRSS returns the runtime's free memory and clears the kernel's high-water
// mark of this process's resident set (Linux 4.0+), so the peak a benchmark reports
// is its own.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// reportPeakRSS adds the process's peak resident set (VmHWM) as peak-RSS-MiB.
func reportPeakRSS(b *testing.B) {
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
