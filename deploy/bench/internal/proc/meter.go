package proc

import "time"

// Usage is what one process cost over a measured interval.
type Usage struct {
	PID      int     `json:"pid"`
	CPUCores float64 `json:"cpu_cores"`
	PeakRSS  int64   `json:"peak_rss_bytes"` // high-water mark since the process started
}

// Meter measures the CPU of a set of processes between Start and Stop.
type Meter struct {
	pids   map[string]int
	start  time.Time
	before map[string]time.Duration
}

// NewMeter starts measuring the named processes now.
func NewMeter(pids map[string]int) *Meter {
	m := &Meter{pids: pids, start: time.Now(), before: map[string]time.Duration{}}
	for name, pid := range pids {
		m.before[name], _ = CPUTime(pid)
	}
	return m
}

// Stop returns each process's average CPU (in cores) since NewMeter and its
// peak RSS. Processes that could not be read are left out.
func (m *Meter) Stop() map[string]Usage {
	el := time.Since(m.start).Seconds()
	out := map[string]Usage{}
	for name, pid := range m.pids {
		cpu, err := CPUTime(pid)
		if err != nil {
			continue
		}
		rss, _ := PeakRSS(pid)
		out[name] = Usage{PID: pid, CPUCores: (cpu - m.before[name]).Seconds() / el, PeakRSS: rss}
	}
	return out
}
