package loadtest

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// String renders the report as plain-text tables.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backchannel bench — %s, %s/%s, %d CPUs (GOMAXPROCS %d), data on %s\n",
		r.GoVersion, r.OS, r.Arch, r.CPUs, r.GOMAXPROCS, r.FileSystem)
	fmt.Fprintf(&b, "server: %s\nlimits: %s\nload average: %s at start, %s at end\n", r.ServerMode, r.Limits, r.LoadAvgStart, r.LoadAvgEnd)
	if len(r.Relay) > 0 {
		b.WriteString("\n")
		b.WriteString(RelayTable(r.Relay))
		b.WriteString("(latencies in ms; delivery p50/p99/max from before encryption to decryption by the reader; send = until the durable acknowledgement;\n cpu psi = /proc/pressure/cpu some avg10 at the end of the run, high when other work competed for the CPUs)\n")
	}
	if r.Idle != nil {
		b.WriteString("\n")
		b.WriteString(r.Idle.String())
	}
	return b.String()
}

// RelayTable renders relay results as a table.
func RelayTable(rs []*RelayResult) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tsenders\treaders\tmsgs\tbytes\taccepted/s\tdelivered/s\tp50 ms\tp99 ms\tmax ms\tsend p50 ms\tsend p99 ms\tops/commit\theap MiB\tpeak heap MiB\tcpu psi\texactly once\t")
	for _, r := range rs {
		c := r.Config
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f%%\t%s\t\n",
			c.Name, c.Senders, c.Readers, r.Expected, c.Size, r.AcceptedPerSec, r.DeliveredPerSec,
			r.DeliveryP50Ms, r.DeliveryP99Ms, r.DeliveryMaxMs, r.SendP50Ms, r.SendP99Ms, r.OpsPerCommit,
			mib(r.MemLoaded.HeapInuse), mib(r.MemPeak.HeapInuse), r.CPUPressure, yesNo(r.ExactlyOnce, r))
	}
	tw.Flush()
	return b.String()
}

func yesNo(ok bool, r *RelayResult) string {
	if ok {
		return "yes"
	}
	return fmt.Sprintf("NO (missing %d, dup %d, corrupt %d, unacked %d)", r.Missing, r.Duplicates, r.Corrupt, r.Unacked)
}

// String renders the idle-connection result.
func (r *IdleResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "idle push connections: %d requested, %d opened, %d held by the server after %.0f s, %d pings answered, %d closed by the server\n",
		r.Requested, r.Conns, r.Held, r.HoldSeconds, r.Pings, r.Closed)
	if r.Conns < r.Requested {
		fmt.Fprintf(&b, "  open-file limit %d (hard %d) allows only %d connections with both ends in one process\n", r.FDLimit.Soft, r.FDLimit.Hard, r.Conns)
	}
	fmt.Fprintf(&b, "  registration: %.1f s (%.0f accounts/s); connect: %.1f s\n", r.RegisterSeconds, r.RegisterPerSec, r.ConnectSeconds)
	fmt.Fprintf(&b, "  per connection: heap in use %.1f KiB (live %.1f KiB) + stack %.1f KiB, %.1f goroutines; process Sys %.1f KiB, RSS %.1f KiB\n",
		r.HeapPerConn/1024, r.HeapAllocPerConn/1024, r.StackPerConn/1024, r.GoroutinesPerConn, r.SysPerConn/1024, r.RSSPerConn/1024)
	if r.ClientMode == "subprocess" {
		fmt.Fprintf(&b, "  server side ≈ %.1f KiB per connection (client ends in a child process), %.1f MiB in total\n",
			r.ServerPerConn/1024, r.ServerTotal/(1<<20))
	} else {
		fmt.Fprintf(&b, "  server side ≈ %.1f KiB per connection (client ends in this process, ≈ %.2f KiB each subtracted), %.1f MiB in total\n",
			r.ServerPerConn/1024, r.ClientPerConn/1024, r.ServerTotal/(1<<20))
	}
	fmt.Fprintf(&b, "  process heap in use %.1f → %.1f MiB, Sys %.1f → %.1f MiB\n",
		mib(r.MemBefore.HeapInuse), mib(r.MemHeld.HeapInuse), mib(r.MemBefore.Sys), mib(r.MemHeld.Sys))
	return b.String()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
