import GPUFlowCore
import Testing

@Suite struct ProfileTests {
    @Test func defaultsAreTheOriginalDesigns() throws {
        let p = try ProfileLoader.parse("", file: "empty.yaml")
        #expect(p.resources.maxConcurrentTasks == 10)
        #expect(p.resources.memoryPoolMB == 4096)
        #expect(p.performance.monitoringIntervalMS == 100)
        #expect(p.coordination.pattern == .collaborative)
        #expect(p.learning.enabled && p.learning.crossAgent)
    }

    /// Like Ray and PyTorch, a task has no time limit unless one is set: a long training is never
    /// killed by a default guess (it was 300 s).
    @Test func taskTimeoutIsNoneUnlessSet() throws {
        #expect(Profile().resources.taskTimeoutS == nil)
        #expect(GPUTaskOrchestrator.Configuration(profile: Profile()).defaultTimeoutS == nil)
        #expect(try ProfileLoader.parse("resources: {task_timeout_s: none}", file: "t.yaml").resources.taskTimeoutS == nil)
        #expect(try ProfileLoader.parse("resources: {task_timeout_s: 90}", file: "t.yaml").resources.taskTimeoutS == 90)
        let back = try ProfileLoader.parse(ProfileRenderer.yaml(Profile()), file: "r.yaml")
        #expect(back.resources.taskTimeoutS == nil)
        #expect(throws: ProfileError.self) { try ProfileLoader.parse("resources: {task_timeout_s: soon}", file: "t.yaml") }
    }

    @Test func readsEverySection() throws {
        let yaml = """
            name: lab
            device: {backend: cpu, prefer: any, index: 1}
            resources: {max_concurrent_tasks: 3, memory_pool_mb: 900, task_timeout_s: 2.5, allocation_strategy: first_fit}
            performance: {monitoring_interval_ms: 50}
            learning: {enabled: false, cross_agent: false}
            coordination: {pattern: time_sliced, time_slice_ms: 20}
            sandbox: {instructions: 1000, memory_mb: 16, wall_s: 1.5}
            agents:
              alice: {max_memory_mb: 100, max_concurrent_tasks: 2, max_compute_percent: 50}
            """
        let p = try ProfileLoader.parse(yaml, file: "lab.yaml")
        #expect(p.name == "lab")
        #expect(p.device.backend == .cpu && p.device.prefer == .any && p.device.index == 1)
        #expect(p.resources.maxConcurrentTasks == 3 && p.resources.memoryPoolMB == 900 && p.resources.taskTimeoutS == 2.5)
        #expect(p.resources.allocationStrategy == .first_fit)
        #expect(p.performance.monitoringIntervalMS == 50)
        #expect(!p.learning.enabled)
        #expect(p.coordination.spec == .timeSliced(.init(sliceMS: 20)))
        #expect(p.sandbox.instructions == 1000 && p.sandbox.memoryMB == 16 && p.sandbox.wallS == 1.5)
        #expect(p.agents["alice"]?.maxMemoryMB == 100 && p.agents["alice"]?.maxComputePercent == 50)
    }

    @Test func readsACoordinationWithItsParametersAndPolicy() throws {
        let p = try ProfileLoader.parse(
            """
            coordination:
              pattern: pipeline
              stages: [load, train]
              buffer_sizes: [2]
              agents: [load, train]
              sharing_policy: {priority_strategy: fair_share, max_starvation_time_s: 0.5, min_resource_share: 0.25, performance_isolation: true}
            """, file: "c.yaml")
        let c = Coordination(profile: p)
        #expect(c.spec == .pipeline(.init(stages: ["load", "train"], bufferSizes: [2])) && c.agents == ["load", "train"])
        #expect(c.policy.priorityStrategy == .fair_share && c.policy.maxStarvationS == 0.5 && c.policy.minResourceShare == 0.25)
        #expect(c.policy.performanceIsolation && c.policy.memoryIsolation)
        #expect(try #require(error("coordination: {pattern: pipeline}")).message.contains("needs stages"))
        #expect(
            try #require(error("coordination: {pattern: pipeline, stages: [a, b, c], buffer_sizes: [1]}")).message
                .contains("one size per link between stages (2), got 1"))
        #expect(
            try #require(error("coordination: {pattern: time_sliced, time_slice_ms: 0}")).message.contains(
                "'time_slice_ms' must be between 0.1"))
        // A parameter of another pattern is refused, naming the pattern it belongs to.
        let stray = try #require(error("coordination: {pattern: exclusive, negotiation: auction}"))
        #expect(
            stray.message.contains("coordination.negotiation is a parameter of the collaborative pattern, not of exclusive")
                && stray.line == 1)
        // One definition: the Lua and YAML spellings of the starvation bound, and one default slice.
        let alias = try ProfileLoader.parse(
            "coordination: {pattern: time_sliced, sharing_policy: {max_starvation_time: 0.25}}", file: "a.yaml")
        #expect(alias.coordination.sharingPolicy.maxStarvationS == 0.25 && alias.coordination.spec == .timeSliced(.init(sliceMS: 50)))
        #expect(
            try #require(error("coordination: {sharing_policy: {max_starvation_time: 1, max_starvation_time_s: 1}}")).message.contains(
                "not both"))
        #expect(
            try #require(error("coordination: {sharing_policy: {fairness: 1}}")).message.contains(
                "unknown key 'fairness' in coordination.sharing_policy"))
        var q = p
        q.source = "built-in defaults"
        var back = try ProfileLoader.parse(ProfileRenderer.yaml(q), file: "r.yaml")
        back.source = "built-in defaults"
        #expect(back == q)
    }

    @Test func readsFallbackFaultsAndHistory() throws {
        let p = try ProfileLoader.parse(
            """
            learning: {history: /tmp/h.jsonl}
            fallback: {failure_threshold: 2, cooldown_ms: 500, backends: [simd, cpu]}
            faults: {vulkan_after_dispatches: 40, kind: out_of_memory}
            """, file: "f.yaml")
        #expect(p.learning.history == "/tmp/h.jsonl")
        #expect(p.fallback.failureThreshold == 2 && p.fallback.cooldownMS == 500 && p.fallback.backends == [.simd, .cpu])
        #expect(p.faults.vulkanAfterDispatches == 40 && p.faults.kind == .out_of_memory)
        #expect(
            try #require(error("fallback: {backends: [gpu9]}")).message.contains("'backends' must be one of auto | vulkan | simd | cpu"))
        #expect(try #require(error("fallback: {backends: simd}")).message.contains("'backends' must be a list"))
        #expect(try #require(error("fallback: {failure_threshold: 0}")).message.contains("between 1 and 1000, got 0"))
        #expect(try #require(error("faults: {kind: meteor}")).message.contains("device_lost | out_of_memory"))
        #expect(try #require(error("learning: {history: ''}")).message.contains("\"default\", \"none\" or a file path"))
        let e = try #require(error("fallback:\n  cooldown: 3\n"))
        #expect(
            e.line == 2
                && e.message.contains("unknown key 'cooldown' in fallback (expected one of: failure_threshold, cooldown_ms, backends)"))
    }

    private func error(_ yaml: String) -> ProfileError? {
        do {
            _ = try ProfileLoader.parse(yaml, file: "p.yaml")
            return nil
        } catch let e as ProfileError {
            return e
        } catch {
            return nil
        }
    }

    @Test func unknownKeyNamesFileLineAndColumn() throws {
        let e = try #require(error("resources:\n  memory_pool_mb: 10\n  max_concurent_tasks: 3\n"))
        #expect(e.line == 3 && e.column == 3)
        #expect(e.description.hasPrefix("p.yaml:3:3: unknown key 'max_concurent_tasks' in resources"))
    }

    @Test func stringWhereANumberBelongs() throws {
        let e = try #require(error("resources:\n  memory_pool_mb: lots\n"))
        #expect(e.line == 2 && e.column == 19)
        #expect(e.message == "'memory_pool_mb' must be an integer, got 'lots'")
        let quoted = try #require(error("resources:\n  memory_pool_mb: \"4096\"\n"))
        #expect(quoted.message.contains("must be an integer, got the string \"4096\""))
    }

    @Test func outOfRangeAndBadChoices() throws {
        #expect(try #require(error("resources: {max_concurrent_tasks: 0}")).message.contains("between 1 and 4096, got 0"))
        #expect(try #require(error("resources: {task_timeout_s: -1}")).message.contains("at least 0.001"))
        #expect(
            try #require(error("coordination: {pattern: anarchy}")).message
                .contains("one of exclusive | time_sliced | space_partitioned | pipeline | collaborative"))
        #expect(try #require(error("learning: {enabled: maybe}")).message.contains("true or false"))
        #expect(try #require(error("device: fast")).message.contains("'device' must be a mapping"))
        #expect(try #require(error("colour: blue")).message.contains("unknown key 'colour' in the profile"))
    }

    @Test func agentLimitsMustFitThePool() throws {
        let e = try #require(error("resources: {memory_pool_mb: 100}\nagents:\n  bob: {max_memory_mb: 200}\n"))
        #expect(e.line == 3)
        #expect(e.message.contains("agents.bob.max_memory_mb (200) exceeds resources.memory_pool_mb (100)"))
    }

    @Test func invalidYAMLIsPositioned() throws {
        let e = try #require(error("resources: [1,\n"))
        #expect(e.line >= 1 && e.message.hasPrefix("invalid YAML"))
    }

    @Test func missingFile() {
        #expect(throws: ProfileError.self) { try ProfileLoader.load(path: "/no/such/profile.yaml") }
    }

    @Test func renderedProfileLoadsBackUnchanged() throws {
        var p = try ProfileLoader.parse(
            "name: x\nagents:\n  alice: {max_memory_mb: 64}\n  bob: {}\nfallback: {backends: [cpu]}\n"
                + "faults: {vulkan_after_dispatches: 3}\nlearning: {history: none}\n", file: "x.yaml")
        p.source = "built-in defaults"
        var back = try ProfileLoader.parse(ProfileRenderer.yaml(p), file: "rendered.yaml")
        back.source = "built-in defaults"
        #expect(back == p)
    }
}
