// Package config loads the spawner service's configuration. It is the only
// package that imports viper.
//
// Service settings come from an optional YAML file (--config) and from
// KUBEDESK_<KEY> environment variables, which win; every key has a default
// here, so an environment variable alone can set any of them. Keys are
// snake_case:
//
//	listen               API address (":8080")
//	ops_listen           /healthz, /readyz, /metrics address (":9090")
//	namespace            namespace of sessions (default: POD_NAMESPACE, else "default")
//	kubeconfig           kubeconfig path; empty means in-cluster
//	hub_token            JupyterHub's token for this API (prefer hub_token_file)
//	hub_token_file       file holding that token, e.g. a mounted Secret
//	defaults_file        YAML of the pod settings every session starts from
//	profiles_file        YAML of the profile list (a Zero to JupyterHub profileList)
//	session_key_file     key (32+ bytes) that signs session tokens; without it a random
//	                     key is made at start, and running sessions get new tokens
//	session_token_ttl    lifetime of a session token ("168h"); a running session's token
//	                     is renewed when less than half of it is left (tokenrenew)
//	session_service_url  this service's URL as session pods reach it (their launcher
//	                     agent's KUBEDESK_SERVICE_URL), e.g. http://kubedesk-spawner.jhub:8080
//	session_service_ca_file
//	                     PEM bundle session agents trust for an https session_service_url
//	                     (besides the system's roots): handed to them in KUBEDESK_SERVICE_CA
//	tls_cert_file, tls_key_file
//	                     PEM certificate (chain) and key: the API listener serves TLS
//	                     (HTTP/1.1) with them, re-read when the files change (a renewed
//	                     Secret); ops_listen stays plain HTTP for probes and Prometheus
//	catalog_file         YAML app catalog (spawner/catalog format)
//	neurodesk_apps_file  Neurodesk apps.json, imported into the catalog
//	xpra_image           image of the Xpra sidecar in app pods ("kubedesk/xpra-sidecar:3.1")
//	max_apps_per_session apps one session may run at once (8); launches in flight count
//	max_launch_files     file arguments one launch may pass (64)
//	max_launch_arg_bytes total bytes of one launch's file arguments (32768)
//	spawn_timeout        bound of a spawn ("4m"); keep it under the hub's start_timeout
//	stop_timeout         bound of a stop ("1m")
//	delete_grace_period  grace given to a session's processes on stop ("1s")
//	unschedulable_grace  how long a pod may stay unschedulable ("30s")
//	max_body_bytes       largest accepted request body (1048576)
//	max_connections      connections the API listener serves at once (4096); further
//	                     ones wait in the kernel's backlog. Headers are capped at 16 KiB.
//	max_progress_streams progress streams open at once (2048, below max_connections);
//	                     16 per server
//	auth_failure_burst   failed authentications one source address may make at once (20)
//	                     before it is refused (429) for a while; one more every 3 s
//	kube_qps, kube_burst client rate limits towards the API server (100, 200)
//	log_format           "json" or "text"
//	log_level            "debug", "info", "warn" or "error"
//	pprof                false; true serves Go's profiles under /debug/pprof/ on ops_listen
//	                     (for a benchmark or an incident: they cost CPU while taken)
//	leader_election      false; true for several replicas: only the holder of a Lease
//	                     acts, the others answer 503 and are not ready (spawner/internal/leader)
//	leader_election_lease
//	                     name of that Lease in namespace ("kubedesk-spawner")
//	leader_election_id
//	                     this process's name in the Lease (default: POD_NAME, else
//	                     hostname_pid)
//	hub_api_url          JupyterHub's API as the service reaches it, e.g.
//	                     http://hub:8081/hub/api; with a token, turns on orphan collection
//	hub_api_token, hub_api_token_file
//	                     a token of a hub service of its own with the scopes list:users
//	                     and read:servers (not the hub's token for this API)
//	orphan_collection_interval
//	                     time between rounds of orphan collection ("10m"; one runs at
//	                     start); 0, or no hub_api_url or token, turns it off
//	orphan_grace_period  how old a session the hub does not list must be before it is
//	                     stopped ("5m"): a younger one may be a spawn in flight
//	orphan_dry_run       false; true logs and counts orphans (would_collect) and stops
//	                     nothing
//
// Pod settings and profiles live in their own files and are decoded strictly
// by their packages, not by viper: viper folds keys to lower case, which would
// corrupt environment variable names and label keys inside them.
package config
