// Package benchhub benchmarks kubedesk against KubeSpawner through a real
// JupyterHub on the kwok dev cluster (issue 7). It is not part of the test
// run: TestHubBench skips unless KUBEDESK_BENCHHUB=1, and `make bench-hub`
// (or `make bench-hub-quick`) sets it.
//
// TestHubChaos (issue 19) is part of the test run, bounded: a wave of users
// through the test run's JupyterHub while the spawner service is SIGKILLed;
// `make bench-chaos` runs it at the size (chaos_test.go lists its
// knobs).
//
// Each run starts a fresh JupyterHub (latest 5.x or 6.x, from
// hack/bench-env.sh's .cache/venv-bench-jh5 / -jh6) in a fresh namespace of
// the kubedesk-bench cluster (no client QPS limits), either with kubedesk's
// spawner class and a fresh spawner service, or with KubeSpawner configured
// alike (jupyterhub_config.py), creates N users through the hub's REST API
// with an admin service token and starts all their servers at once. One
// responder answers the hub's readiness check at every pod IP (kwok pods get
// 127.42.x.y), so only the spawn path is measured.
//
// Results go to .cache/benchhub/results/*.json (one file per run, with the
// per-user latencies and a 1 s time series); report.py turns them into
// docs/bench/kubespawner.md's tables and docs/bench/*.png.
//
// Environment:
//
//	KUBEDESK_BENCHHUB=1            run at all
//	BENCH_HUBS=jh5,jh6             hub versions (venvs .cache/venv-bench-<hub>)
//	BENCH_N=100,500,1000,2000      wave sizes
//	BENCH_SPAWNERS=kubedesk,kubespawner
//	BENCH_SCENARIOS=wave           any of wave, restart-hub, kill-service,
//	                               steady, pvc, profile
//	BENCH_RESTART_N=1000           servers running when the hub restarts
//	BENCH_KILL_N=500               wave size of the service-kill scenario
//	BENCH_STEADY_N=2000            servers running during steady polling
//	BENCH_STEADY_SECONDS=180       steady window (poll_interval 3 s)
//	BENCH_PVC_N=500                wave size with home PVCs on
//	BENCH_PROFILE_N=500            wave size of the profiled runs
//	BENCH_PROFILE_SECONDS=25       how long py-spy and pprof record
//	BENCH_VARIANT=name             a diagnostic run: results named *-name,
//	                               reported apart from the benchmark proper
package benchhub
