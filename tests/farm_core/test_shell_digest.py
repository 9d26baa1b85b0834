"""The shell job's digest over real-looking output of common tools: status, failure kind, summary, decisive
lines."""

from pathlib import Path

import pytest

from farm_core.redaction import Redactor
from farm_core.shell_digest import LINE_MAX_CHARS, LINES_MAX_BYTES, head_and_tail, last_lines, shell_digest
from tasks.checks import CheckOutcome, run_check

PYTEST_FAILED = """\
.F                                                                       [100%]
=================================== FAILURES ===================================
___________________________________ test_bad ___________________________________

    def test_bad():
>       assert 2 + 2 == 5
E       assert (2 + 2) == 5

t/test_a.py:5: AssertionError
=========================== short test summary info ============================
FAILED t/test_a.py::test_bad - assert (2 + 2) == 5
1 failed, 1 passed in 1.58s
"""
PYTEST_PASSED = """\
============================= test session starts ==============================
collected 3 items

tests/test_app.py ...                                                    [100%]

============================== 3 passed in 0.04s ===============================
"""
PYTEST_SYNTAX_ERROR = """\
==================================== ERRORS ====================================
______________________ ERROR collecting tests/test_app.py ______________________
tests/test_app.py:3: in <module>
    def broken(:
E     File "/repo/tests/test_app.py", line 3
E       def broken(:
E                  ^
E   SyntaxError: invalid syntax
=========================== short test summary info ============================
ERROR tests/test_app.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
=============================== 1 error in 0.12s ===============================
"""
UNITTEST_FAILED = """\
F.
======================================================================
FAIL: test_x (__main__.T.test_x)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/tmp/u.py", line 4, in test_x
    self.assertEqual(1, 2)
AssertionError: 1 != 2

----------------------------------------------------------------------
Ran 2 tests in 0.000s

FAILED (failures=1)
"""
GCC_ERROR = """\
m.c: In function 'main':
m.c:2:11: warning: initialization of 'int' from 'char *' makes integer from pointer without a cast \
[-Wint-conversion]
    2 |   int x = "a";
      |           ^~~
m.c:3:10: error: 'y' undeclared (first use in this function)
    3 |   return y;
      |          ^
m.c:3:10: note: each undeclared identifier is reported only once for each function it appears in
"""
TSC_ERROR = """\
src/app.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.
src/app.ts(9,1): error TS2304: Cannot find name 'undefinedThing'.
"""
RUFF_ERRORS = """\
src/app.py:1:8: F401 [*] `os` imported but unused
src/app.py:4:5: E741 Ambiguous variable name: `l`
Found 2 errors.
[*] 1 fixable with the `--fix` option.
"""
ESLINT_ERRORS = """\

/repo/src/app.js
  1:7   error  'unused' is assigned a value but never used  no-unused-vars
  3:10  error  'missing' is not defined                      no-undef

✖ 2 problems (2 errors, 0 warnings)

"""
GO_TEST_FAILED = """\
--- FAIL: TestAdd (0.00s)
    add_test.go:6: add(2, 2) = 4, want 5
FAIL
exit status 1
FAIL\texample.com/calc\t0.003s
"""
CARGO_TEST_FAILED = """\
running 1 test
test tests::it_adds ... FAILED

failures:

---- tests::it_adds stdout ----
thread 'tests::it_adds' panicked at src/lib.rs:3:50:
assertion `left == right` failed
  left: 4
 right: 5

failures:
    tests::it_adds

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.21s

error: test failed, to rerun pass `--lib`
"""
CARGO_BUILD_FAILED = """\
   Compiling cr v0.1.0 (/repo)
error[E0308]: mismatched types
 --> src/lib.rs:1:60
  |
1 | pub fn add(a: i32, b: i32) -> i32 { let s: String = a + b; s }
  |                               ---                          ^ expected `i32`, found `String`

For more information about this error, try `rustc --explain E0308`.
error: could not compile `cr` (lib) due to 2 previous errors
"""
JEST_FAILED = """\
 FAIL  src/sum.test.js
  ✕ adds 1 + 2 to equal 3 (4 ms)

  ● adds 1 + 2 to equal 3

    expect(received).toBe(expected) // Object.is equality

    Expected: 3
    Received: 4

Tests:       1 failed, 1 passed, 2 total
Snapshots:   0 total
Time:        0.5 s
"""
NOT_FOUND = "bash: line 1: nosuchtool: command not found\n"
PYTEST_IMPORT_ERROR = """\
______________________ ERROR collecting tests/test_app.py ______________________
ImportError while importing test module '/repo/tests/test_app.py'.
E   ModuleNotFoundError: No module named 'requests'
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
1 error in 0.08s
"""


def outcome(output: str, exit_code: int | None = 1, status: str = "failed") -> CheckOutcome:
    return CheckOutcome("shell", status, exit_code, 1234, output, 1, output_bytes=len(output.encode()))


@pytest.mark.parametrize(
    ("output", "exit_code", "kind", "summary"),
    [
        (PYTEST_FAILED, 1, "test_failure", "1 failed, 1 passed in 1.58s"),
        (PYTEST_SYNTAX_ERROR, 2, "compile_error", "1 error in 0.12s"),
        (PYTEST_IMPORT_ERROR, 2, "test_failure", "1 error in 0.08s"),
        (UNITTEST_FAILED, 1, "test_failure", "Ran 2 tests in 0.000s: FAILED (failures=1)"),
        (GCC_ERROR, 1, "compile_error", None),
        (TSC_ERROR, 2, "compile_error", None),
        (RUFF_ERRORS, 1, "lint", "Found 2 errors."),
        (ESLINT_ERRORS, 1, "lint", "✖ 2 problems (2 errors, 0 warnings)"),
        (GO_TEST_FAILED, 1, "test_failure", "FAIL\texample.com/calc\t0.003s"),
        (
            CARGO_TEST_FAILED,
            101,
            "test_failure",
            "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 "
            "filtered out; finished in 0.21s",
        ),
        (
            CARGO_BUILD_FAILED,
            101,
            "compile_error",
            "error: could not compile `cr` (lib) due to 2 previous errors",
        ),
        (JEST_FAILED, 1, "test_failure", "Tests:       1 failed, 1 passed, 2 total"),
        (NOT_FOUND, 127, "command_not_found", "bash: line 1: nosuchtool: command not found"),
        ("Segmentation fault (core dumped)\n", 139, "killed", None),
        ("something went wrong\n", 3, "other", None),
    ],
)
def test_failure_kind_and_summary_of_common_tools(output, exit_code, kind, summary):
    digest = shell_digest(outcome(output, exit_code))

    assert digest.status == "failed"
    assert digest.exit_code == exit_code
    assert digest.failure_kind == kind
    assert digest.summary_line == summary
    assert digest.output_bytes == len(output.encode())
    assert digest.elapsed_ms == 1234


def test_pytest_failure_keeps_the_assertion_and_the_summary():
    lines = shell_digest(outcome(PYTEST_FAILED)).decisive_lines

    assert "E       assert (2 + 2) == 5" in lines
    assert "FAILED t/test_a.py::test_bad - assert (2 + 2) == 5" in lines
    assert lines[-1] == "1 failed, 1 passed in 1.58s"


@pytest.mark.parametrize(
    ("output", "wanted"),
    [
        (TSC_ERROR, "src/app.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'."),
        (ESLINT_ERRORS, "  1:7   error  'unused' is assigned a value but never used  no-unused-vars"),
        (RUFF_ERRORS, "src/app.py:1:8: F401 [*] `os` imported but unused"),
        (GCC_ERROR, "m.c:3:10: error: 'y' undeclared (first use in this function)"),
    ],
)
def test_decisive_lines_find_compiler_and_linter_errors_above_a_long_ending(output, wanted):
    noisy = output + "".join(f"progress line {i}\n" for i in range(30))

    lines = shell_digest(outcome(noisy)).decisive_lines

    assert wanted in lines
    assert lines[-1] == "progress line 29"


def test_passing_run_is_none_even_when_its_output_mentions_failures():
    digest = shell_digest(outcome(PYTEST_PASSED + "FAILED earlier, retried\n", exit_code=0, status="passed"))

    assert (digest.status, digest.failure_kind) == ("passed", "none")
    assert digest.summary_line == "3 passed in 0.04s"


def test_timeout_and_cancel_have_no_exit_code():
    timed_out = shell_digest(outcome("still going\n", exit_code=None, status="timed out"))
    cancelled = shell_digest(outcome("still going\n", exit_code=None, status="cancelled"))

    assert (timed_out.status, timed_out.exit_code, timed_out.failure_kind) == ("timed_out", None, "timeout")
    assert (cancelled.status, cancelled.exit_code, cancelled.failure_kind) == ("cancelled", None, "killed")


def test_decisive_lines_are_bounded_in_count_bytes_and_line_length():
    output = "".join(f"Error {i}: " + "x" * 5000 + "\n" for i in range(200)) + "the end\n"

    lines = shell_digest(outcome(output)).decisive_lines

    assert sum(len(line.encode()) + 1 for line in lines) <= LINES_MAX_BYTES
    assert all(len(line) <= LINE_MAX_CHARS for line in lines)
    assert lines[0].startswith("Error 0: xxx") and lines[-1] == "the end"
    assert any("omitted" in line for line in lines)


def test_head_and_tail_keeps_short_lists_whole_and_last_lines_keep_the_end():
    assert head_and_tail(["a", "b"], 100) == ["a", "b"]
    assert last_lines([f"line {i}" for i in range(100)], 3, 1000) == ["line 97", "line 98", "line 99"]
    assert last_lines(["x" * 100] * 10, 10, 250) == ["x" * 100, "x" * 100]


def test_a_real_run_counts_every_byte_beyond_the_output_cap(tmp_path: Path):
    command = (
        'for i in $(seq 1 2000); do echo "line $i of the output"; done; echo \'FAILED t.py::test_x - assert '
        "1 == 2'; exit 1"
    )
    ran = run_check(
        "shell", command, tmp_path, {"PATH": "/usr/bin:/bin"}, 30, Redactor([]), output_cap_bytes=4096
    )

    expected = sum(len(f"line {i} of the output\n") for i in range(1, 2001)) + len(
        "FAILED t.py::test_x - assert 1 == 2\n"
    )
    digest = shell_digest(ran)
    assert ran.output_bytes == expected and len(ran.output.encode()) < 4096
    assert digest.exit_code == 1 and digest.failure_kind == "test_failure"
    assert digest.decisive_lines[-1] == "FAILED t.py::test_x - assert 1 == 2"
