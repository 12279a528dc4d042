"""The tests the ``slow`` marker goes on (tests/conftest.py puts it there).

``pytest -m "not slow"`` (``make test-fast``) runs the rest: the fast subset, for working
between commits; ``make test`` runs everything.  A new slow test may instead carry
``@pytest.mark.slow`` itself.
"""

from __future__ import annotations

# Each entry is a module below tests/ (every test in it) or ``module::function`` (every
# parametrization of it), with why it is slow.  Times are from a machine of 2 cores under a load
# average of 25-55, about five times an idle machine's.  tests/test_slow_marks.py checks that
# every entry still names a test.  Besides these, tests/s3servers.py marks the S3 parameters
# of backend-neutral tests (index_backend: moto, seaweedfs) and SeaweedFS for S3-only tests
# (s3_server), and tests/signing/conftest.py its SeaweedFS backend: the fast subset runs every
# such test on the local directory, and S3-only tests on moto.
SLOW: dict[str, str] = {
    # Sweeps: hundreds of real processes killed or signalled at chosen instants.
    "sync/test_sync_crash.py": "200 syncs killed with SIGKILL",
    "sync/test_sync_signals.py::test_signals_swept_over_a_real_sync": (
        "12 real syncs signalled at spread instants, each verified (40-90 s)"
    ),
    "sync/test_sync_signals.py::test_no_download_starts_after_the_signal": (
        "builds and syncs 8 bundles (18 s)"
    ),
    "sync/test_bytecode_helpers.py::test_syncs_killed_while_helpers_compile_leave_a_usable_dir": (
        "12 syncs of 240 modules killed mid-way (22 s)"
    ),
    "index/test_crash.py": "publishers killed at every step",
    "index/test_concurrency.py": "eight concurrent publishers per backend (56 s)",
    # Whole environments: browsers, Prefect servers, other venvs, the runtime wheel.
    "site/test_browser.py": "headless Chromium",
    "registry/test_prefect1_suites.py": "two suites in .venv-prefect1",
    "registry/test_prefect.py": "Prefect 3's test server",
    "registry/test_dioptra_fork_suite.py::test_the_fork_suite_passes_in_full_under_prefect1": (
        "Dioptra's suite in .venv-prefect1"
    ),
    "registry/test_dioptra_fork_suite.py::test_the_fork_suite_passes_under_prefect3": (
        "Dioptra's suite in a subprocess"
    ),
    "index/test_runtime_in_index.py": "builds the runtime wheel; pip and uv install it",
    "test_bench_scripts.py": "an interpreter per benchmark script, and the fuzzer",
    # Jobs run end to end through the command line (publish, sync, run).
    "entrypoints/test_demo.py": "the whole demo (33 s)",
    "entrypoints/test_end_to_end.py": "publish, sync and run jobs (17-28 s each)",
    "index/test_cli.py::test_the_new_user_story": "a new user's whole session (14 s)",
    "entrypoints/test_s3_params.py::test_a_prefix_is_downloaded_as_a_folder": "6 s",
    # Builds from git repositories (git and hatchling in subprocesses, several per test).
    "bundle/test_rebuild.py": "clones and rebuilds (3-15 s each)",
    "bundle/test_git_build.py": "builds from git URLs (2-12 s each)",
    "bundle/test_dioptra_toml.py::test_dioptra_extra_publishes_from_git_in_one_command": "12 s",
    "bundle/test_dioptra_toml.py::test_publish_from_git_skips_unchanged_packages": "10 s",
    "bundle/test_dioptra_toml.py::test_rebuild_of_a_declared_package": "9 s",
    "bundle/test_provenance_travels.py::test_index_show_lock_list_and_tasks_name_the_commit": (
        "6 s"
    ),
    # Property-based: 120 examples per reader.
    "fuzz/test_fuzz_readers.py": "hypothesis, 120 examples per reader (35 s)",
    # Waits that are the point of the test: timeouts, retries with backoff, intervals, expiry.
    "index/test_timeouts.py::test_cli_index_commands_fail_in_time": "3 x 1 s, a control (10-13 s)",
    "index/test_timeouts.py::test_cli_sync_fails_in_time": "3 x 1 s, and a control (10 s)",
    "index/test_timeouts.py::test_library_fails_within_attempts_times_timeout": "3 x 1 s (4 s)",
    "index/test_timeouts.py::test_each_operation_reports_the_timeout": "4 x 3 x 0.3 s (7 s)",
    "sync/test_sync_faults.py": "a fault proxy; retries with backoff (29 s for 11)",
    "sync/test_sync_concurrency.py": "eight syncs at once; sync --every over 5.5 intervals (9 s)",
    "signing/test_signed_sync.py::test_an_expired_timestamp_is_refused_saying_when": (
        "sleeps until the timestamp expires (5 s)"
    ),
    "registry/test_watch.py::test_idle_for_two_seconds_reloads_nothing": "2 s idle",
    "registry/test_watch_screen.py": "the watch command in a subprocess (5 s for 3)",
    # Many command-line processes each.
    "index/test_config_errors.py": "a command-line process per bad setting, 67 (116 s)",
    "signing/test_trusted_views.py": "signed views through the command line (25 s for 8)",
    (
        "signing/test_signing_policy.py::"
        "test_concurrent_signed_publishers_with_the_library_lose_nothing"
    ): "concurrent signed publishers (5 s)",
    "signing/test_signing_cli.py": "keys, signing and workers through the command line (12 s)",
    "signing/test_signed_mismatch_message.py": "a replaced bundle built per case (18 s)",
    "sync/test_http_index.py::test_an_http_index_that_never_answers_fails_within_the_timeout": (
        "3 x 0.5 s and backoff (2 s)"
    ),
    (
        "sync/test_shadowing.py::"
        "test_the_command_exits_1_naming_the_distribution_and_allows_it_when_told"
    ): "6 s",
    "bundle/test_dioptra_toml.py::test_declared_metadata_goes_into_each_manifest": "4 s",
    "bundle/test_dioptra_toml.py::test_publish_from_git_into_a_library_storage": "4 s",
    "bundle/test_bundle_cli.py::test_build_and_inspect_json": "4 s",
}
