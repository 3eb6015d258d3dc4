/// The job server's `/metrics` in the Prometheus text format (version 0.0.4).
///
/// Each family is written whole under its own HELP and TYPE lines, counters' names end in
/// `_total`, and label values are escaped, so `promtool check metrics` passes (tested in
/// EndToEndTests).
enum ServerMetrics {
    static func text(_ s: JobManager.Stats, slices: [(agent: String, seconds: Double)]?) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { out += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        family("gpuflow_jobs_queued", "gauge", "Jobs waiting for a worker.", [("", "\(s.queued)")])
        family("gpuflow_jobs_running", "gauge", "Jobs in a worker.", [("", "\(s.running)")])
        family("gpuflow_job_submissions_total", "counter", "Jobs accepted.", [("", "\(s.submissions)")])
        family(
            "gpuflow_jobs_finished_total", "counter", "Jobs ended, by state.",
            s.finished.sorted { $0.key < $1.key }.map { (label("state", $0.key), "\($0.value)") })
        family(
            "gpuflow_store_writes_waiting", "gauge", "Job records and events not yet in the run store (it is busy or locked).",
            [("", "\(s.unwritten)")])
        if let slices {
            let byAgent = Dictionary(grouping: slices, by: \.agent).sorted { $0.key < $1.key }
            family(
                "gpuflow_time_slices_total", "counter", "Time slices across jobs, by agent.",
                byAgent.map { (label("agent", $0.key), "\($0.value.count)") })
            family(
                "gpuflow_time_slice_seconds_total", "counter", "Seconds of the time slices across jobs, by agent.",
                byAgent.map { (label("agent", $0.key), "\($0.value.reduce(0) { $0 + $1.seconds })") })
        }
        return out
    }

    /// `{name="value"}` with the value escaped as the text format requires (\\, \", \n).
    static func label(_ name: String, _ value: String) -> String {
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "{\(name)=\"\(escaped)\"}"
    }
}
