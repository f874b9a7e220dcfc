"""tests/corpus/package_patterns: serverless `package.patterns`, `individually` and a
function's own patterns decide what each function's package holds, as the Framework
builds the zips: what a package leaves out cannot be imported, locally as on AWS."""

from __future__ import annotations

from tests.integration.corpus.conftest import RunCorpus


async def test_each_function_imports_what_its_package_holds(run_corpus: RunCorpus) -> None:
    async with run_corpus("package_patterns") as svc:
        status, _, listed = await svc.http("GET", "/orders")
        assert status == 200 and [o["id"] for o in listed["orders"]] == ["o-1", "o-2"]
        # Only this function's patterns add shared/**.
        status, headers, csv = await svc.http("GET", "/orders/export")
        assert status == 200 and headers["Content-Type"] == "text/csv"
        assert csv.splitlines() == ["id,item,qty", "o-1,coffee,2", "o-2,tea,1"]


async def test_a_handler_importing_a_file_left_out_fails_as_on_aws(
    run_corpus: RunCorpus,
) -> None:
    async with run_corpus("package_patterns") as svc:
        # scripts/ is beside src/ in the service directory, but not in the package.
        status, _, body = await svc.http("POST", "/orders/seed")
        assert (status, body) == (500, {"message": "Internal Server Error"})
        assert any(
            "Runtime.ImportModuleError" in line and "No module named 'scripts'" in line
            for line in svc.logs
        ), svc.logs


async def test_the_package_holds_only_the_files_its_patterns_keep(run_corpus: RunCorpus) -> None:
    async with run_corpus("package_patterns") as svc:
        runtime = svc.stack.runtime
        await runtime.prepare()
        files = {}
        for name in ("list", "export"):
            package = runtime.package(name)
            assert package is not None
            root = package.task_root
            files[name] = sorted(
                str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts
            )
        assert files["list"] == [
            "src/__init__.py",
            "src/orders/__init__.py",
            "src/orders/export.py",
            "src/orders/list.py",
            "src/orders/seed.py",
            "src/orders/store.py",
        ]
        assert files["export"] == [
            "shared/__init__.py",
            "shared/csvfmt.py",
            *files["list"],
        ]
