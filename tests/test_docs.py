"""The docs tell the truth about paths: every `*.md` file they name exists, every results path they name
fits the output layout (docs/layout.md), nothing cites a file outside the repository, the rerun table
of docs/settings.md is the one `python -m infonas.plan` prints, and the README stays a short front page.

Texts checked: README.md and every Markdown file in the repository, report/*.rst, the YAML files and
the Makefile and CI script in full, and the docstrings and comments of the Python and Snakemake code.
"""
import io
import re
import subprocess
import sys
import tokenize
from functools import lru_cache
from pathlib import Path

import pytest

import yaml

from infonas.plan import build_plan

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("infonas", "workflow_scripts", "benchmarks", "rules", "tests")
FULL_TEXT = ("Makefile", ".ci/run")
FULL_TEXT_GLOBS = ("*.md", "docs/*.md", "report/*.rst", "*.yaml", "schemas/*.yaml", "presets/*.yaml",
                   "profiles/**/*.yaml", "profiles/**/*.md", "envs/*.yaml", "infonas/**/*.md", "scripts/*")
README_MAX_LINES = 120
MAX_LINE = 120

# ------------------------------------------------------------------------------------------ layout
#: What a placeholder in a path of the layout stands for (a path in the docs may write any
#: placeholder, `<digest>`, `{model}`, `*`, where the layout has one).
SLOTS = {
    "digest": "[0-9a-f]{10}",
    "url": "[0-9a-f]{16}",
    "hash": "[0-9a-f]{32}",
    "model": "infonas|infonas-opemb|arch2vec",
    "encoder": "infonas|arch2vec",
    "seed": "[0-9]+",
    "epoch": "[0-9]+",
    "run": "[A-Za-z0-9_-][A-Za-z0-9_.-]*",
    "variant": "[A-Za-z0-9][A-Za-z0-9_.,=+-]*",
    "comparison": "[A-Za-z0-9][A-Za-z0-9_.,=+-]*",
    "split": "train|valid_unseen_networks|valid_unseen_images|test_unseen_images|test_unseen_networks_images",
    "name": "[^/]+",
    "figure": "png|pdf",
    "projection": "pca|tsne",
    "table": "csv|md|tex",
}
#: Files of each stage's folder `results/store/<stage>/<digest>/` (rules/common.smk writes them; the
#: resume state beside them lives only while a job is unfinished).
STORE_FILES = {
    "searchspace": ["searchspace.h5"],
    "images": ["images.h5"],
    "networks": ["networks.csv"],
    "pretrain": ["<hash>.pt", "<hash>.json", "<hash>.pt.ckpt", "<hash>.pt.ckpt.inputs.json"],
    "extract_io": ["<hash>.h5"],
    "fit_scaler": ["scaler.h5"],
    "io_dataset": ["dataset.h5"],
    "benchmark": ["benchmark.h5"],
    "random_search": ["random.h5"],
    "raw_features": ["embeddings.h5"],
    "train": ["<model>/seed<seed>/metrics.csv", "<model>/seed<seed>/weights.pt",
              "<model>/seed<seed>/embeddings/epoch<epoch>.h5", "<model>/seed<seed>/checkpoints/epoch_<epoch>.pt",
              "<model>/seed<seed>/checkpoints.inputs.json"],
    "reinforce": ["<model>/seed<seed>/epoch<epoch>/<encoder>.h5", "raw_cells.h5"],
    "predict": ["<model>/seed<seed>/epoch<epoch>/<encoder>.csv", "<model>/seed<seed>/epoch<epoch>/<encoder>_pairs.csv",
                "raw_cells.csv", "raw_cells_pairs.csv"],
    "bo": ["<model>/seed<seed>/epoch<epoch>/<encoder>.h5", "raw_cells.h5"],
    "evolution": ["evolution.h5"],
}
#: Files of a variant's figures folder `results/<run>/variants/<variant>/figures/`.
VARIANT_FIGURES = [
    "<model>/labeled_losses.<figure>", "<model>/vae_losses.<figure>", "<model>/reconstruction.<figure>",
    "<model>/validity_uniqueness.<figure>", "<model>/final_epoch.<table>", "<model>/scaling_results.<table>",
    "<model>/heatmaps_<split>_networks.<figure>", "<model>/heatmaps_<split>_one_image.<figure>",
    "<model>/latent_space_<projection>_epoch<epoch>.<figure>",
    "latent_distances.<figure>", "latent_distances_table.<table>",
    "search/<model>_seed<seed>_epoch<epoch>.<figure>", "search/<model>_seed<seed>_epoch<epoch>_table.<table>",
    "predict/<model>_epoch<epoch>.<figure>", "predict/<model>_epoch<epoch>_table.<table>",
    "predict/<model>_epoch<epoch>_scatter.<figure>",
    "search_validation.<figure>", "search_test.<figure>", "search_table.<table>", "search_queries.<table>",
    "prediction_rmse.<figure>", "prediction_pearson_r.<figure>", "prediction_table.<table>",
]
#: Files of a comparison's folder `results/<run>/compare/<comparison>/`.
COMPARISON_FILES = [
    "comparison.<table>", "comparison_<split>.<table>", "comparison_reconstruction.<table>",
    "comparison_<split>.html", "comparison_reconstruction.html", "curves_<split>.<figure>", "search.<figure>", "search_table.<table>", "prediction_pearson_r.<figure>",
    "prediction_rmse.<figure>", "prediction_table.<table>",
]


@lru_cache(maxsize=None)
def layout() -> tuple[str, ...]:
    """Every file path of the output layout, with `<slot>` placeholders; `**` is any sub-path."""
    paths = ["results/_cache/nb101_cells.h5", "results/_cache/downloads/<url>/<name>", "results/_cache/fingerprints.json",
             "results/_cache/logs/enumerate_cells.log", "results/_cache/benchmarks/enumerate_cells.tsv",
             "results/<run>/report.html", "results/<run>/figures/scaling_variants.<table>", "results/<run>/logs/**",
             "results/<run>/variants/<variant>/config.yaml"]
    stages = build_plan(yaml.safe_load((REPO / "config.yaml").read_text())).records
    assert set(STORE_FILES) == set(stages), "a stage of infonas.plan is missing from the layout"
    for stage, files in STORE_FILES.items():
        for name in files + ["logs/<name>.log", "benchmarks/<name>.tsv"]:
            paths.append(f"results/store/{stage}/<digest>/{name}")
    paths += [f"results/<run>/variants/<variant>/figures/{name}" for name in VARIANT_FIGURES]
    paths += [f"results/<run>/compare/<comparison>/{name}" for name in COMPARISON_FILES]
    return tuple(paths)


HOLE = "\x00"  # a placeholder of a path named in the docs, after `normalise`
#: `<digest>`, `{model}`, `*`, a folder variable (`out_dir`, `cache_dir`) and `XXX` (as in `epoch_XXX.pt`)
_PLACEHOLDER = re.compile(r"<[^<>\n]*>|\{[^{}\n]*\}|\*+|\b\w+_dir\b|X{3,}")


def normalise(path: str) -> list[str]:
    """Components of a path named in the docs, every placeholder one HOLE (`...` stays: any sub-path)."""
    return [part if part == "..." else _PLACEHOLDER.sub(HOLE, part) for part in path.strip("/").split("/")]


@lru_cache(maxsize=None)
def _component_pattern(template: str) -> re.Pattern:
    """A layout component as a regex that takes a HOLE wherever the layout has a slot."""
    pattern, last = "", 0
    for slot in re.finditer(r"<(\w+)>", template):
        pattern += re.escape(template[last:slot.start()]) + f"(?:{HOLE}+|{SLOTS[slot.group(1)]})"
        last = slot.end()
    return re.compile(pattern + re.escape(template[last:]) + "$")


def _matches(doc: list[str], tpl: list[str], prefix_ok: bool) -> bool:
    """Whether the doc components name tpl (or, with prefix_ok, a folder on its way)."""
    if not doc:
        return prefix_ok or not tpl
    if doc[0] == "...":
        return any(_matches(doc[1:], tpl[k:], prefix_ok) for k in range(len(tpl) + 1))
    if not tpl:
        return False
    if tpl[0] == "**":
        return any(_matches(doc[k:], tpl[1:], prefix_ok) for k in range(1, len(doc) + 1)) or prefix_ok
    fits = doc[0] == HOLE or bool(_component_pattern(tpl[0]).match(doc[0]))
    return fits and _matches(doc[1:], tpl[1:], prefix_ok)


@lru_cache(maxsize=None)
def _tails() -> tuple[tuple[str, ...], ...]:
    """The layout's paths without their first folders (any number of them, at least one)."""
    return tuple({tuple(parts[k:]) for parts in (tpl.split("/") for tpl in layout())
                  for k in range(1, len(parts)) if parts[k] != "**"})


def fits_layout(path: str) -> bool:
    """A `results/...` path is a file or folder of the layout; any other path is the tail of one."""
    doc = normalise(path)
    if doc[0] == "results":
        return any(_matches(doc, tpl.split("/"), prefix_ok=True) for tpl in layout())
    return any(_matches(doc, list(tail), prefix_ok=False) for tail in _tails())


# ------------------------------------------------------------------------------------------ texts
def tracked(*globs: str) -> list[Path]:
    out = set()
    for pattern in globs:
        out.update(p for p in REPO.glob(pattern) if p.is_file() and not _ignored(p))
    return sorted(out)


def _ignored(path: Path) -> bool:
    parts = path.relative_to(REPO).parts
    return parts[0] in {".venv", "results", ".snakemake", ".git"} or "__pycache__" in parts


def prose_of_code(text: str) -> str:
    """Comments and docstrings (every string that is a statement of its own) of Python or Snakemake code."""
    out, previous = [], tokenize.NEWLINE
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    for k, tok in enumerate(tokens):
        if tok.type == tokenize.COMMENT:
            out.append(tok.string)
        elif tok.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT,
                                                          tokenize.DEDENT):
            following = next((t.type for t in tokens[k + 1:] if t.type != tokenize.COMMENT), tokenize.NEWLINE)
            if following in (tokenize.NEWLINE, tokenize.ENDMARKER):
                out.append(tok.string)
        if tok.type not in (tokenize.COMMENT,):
            previous = tok.type
    return "\n".join(out)


def texts() -> dict[Path, str]:
    """The prose of the repository that may name paths, by file."""
    found = {p: p.read_text(encoding="utf-8") for p in tracked(*FULL_TEXT_GLOBS, *FULL_TEXT)}
    for path in tracked(*(f"{d}/**/*.py" for d in CODE_DIRS), "rules/*.smk", "Snakefile"):
        found[path] = prose_of_code(path.read_text(encoding="utf-8"))
    return found


_URL = re.compile(r"[a-z]+://\S+")
_TOKEN = re.compile(r"(?:[\w.=+$-]|<[^<>\n]*>|\{[^{}\n]*\}|\*|/)+")
_RESULTS = re.compile(r"(?<![\w./-])results/")
_EXTENSIONS = re.compile(r"(\.\w+)(?:/\.\w+)+")
_MARKDOWN = re.compile(r"(?:^|/)[^/.][^/]*\.md$")
_OUTPUT = re.compile(r"\.(h5|pt|csv|json|tsv|log|png|pdf|tex|html|ckpt)$")


def path_tokens(text: str):
    """Path-like words of a text (URLs left out), with trailing punctuation stripped."""
    for match in _TOKEN.finditer(_URL.sub(" ", text)):
        token = _EXTENSIONS.sub(r"\1", match.group(0).rstrip(".,=+-"))  # a.csv/.md/.tex: a.csv
        if "/" in token.strip("/") or token.endswith(".md") or token.startswith("results"):
            yield token


def exists(token: str, source: Path) -> bool:
    return (REPO / token).exists() or (source.parent / token).exists()


def in_repo_folder(token: str) -> bool:
    """A file that a command writes into a folder of the repository (e.g. a CI log)."""
    parent = Path(token).parent
    return str(parent) != "." and not _PLACEHOLDER.search(str(parent)) and (REPO / parent).is_dir()


def stale_paths(source: Path, text: str) -> list[str]:
    """Paths a text names that are not there: missing `*.md` files, results paths off the layout,
    output files whose folders are not the layout's, and files outside the repository."""
    bad = []
    if "../shared/" in text:
        bad.append("../shared/ (outside the repository)")
    for token in path_tokens(text):
        token = token.rsplit("=", 1)[-1] if "=/" in token else token  # LogFile=/var/log/...: the path
        if token.startswith(("$", "/")):  # a shell variable's folder, a system file
            continue
        has_hole = bool(_PLACEHOLDER.search(token)) or "..." in token
        if _RESULTS.match(token) or token == "results":
            if not fits_layout(token):
                bad.append(token)
        elif _MARKDOWN.search(token) and not has_hole and not exists(token, source):
            bad.append(token)
        elif "/" in token and _OUTPUT.search(token) and not (exists(token, source) or in_repo_folder(token)
                                                             or fits_layout(token)):
            bad.append(token)
    return bad


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("path", [
    "results/store/searchspace/<digest>/searchspace.h5", "results/store/", "results/<run>/",
    "results/store/train/<d>/{model}/seed{seed}/embeddings/epoch{epoch}.h5",
    "results/store/reinforce/<d>/.../{encoder}.h5", "results/<run>/variants/*/config.yaml",
    "results/default/compare/scaling/comparison.md", "results/store/pretrain/<d>/{hash}.json",
    "results/<run>/variants/<v>/figures/search/{model}_seed{seed}_epoch{epoch}.png",
    "store/extract_io/<d>/{hash}.h5", "embeddings/epoch{E}.h5", "checkpoints/epoch_{E:03d}.pt",
    "results/<run>/logs/report/search_base_infonas_seed1_epoch6.log", "results/_cache/nb101_cells.h5",
])
def test_layout_paths_fit(path):
    assert fits_layout(path), path


@pytest.mark.parametrize("path", [
    "results/<run>/io/dataset.h5", "results/<run>/searchspace.h5", "results/default/images.h5",
    "results/store/io/<digest>/dataset.h5", "results/store/searchspace/<digest>/dataset.h5",
    "io/{hash}.h5", "io/scaler.h5", "pretrained/<hash>.json", "results/subset20k/embeddings/.../epoch8.h5",
])
def test_stale_paths_do_not_fit(path):
    assert not fits_layout(path), path


def test_checker_flags_missing_markdown_and_outside_files():
    text = "see DESIGN.md section 2, `README.md`, docs/nothing.md and ../shared/tools/x.sh; https://x.org/a.md"
    assert stale_paths(REPO / "README.md", text) == ["../shared/ (outside the repository)", "DESIGN.md",
                                                     "docs/nothing.md"]


def test_prose_of_code_is_docstrings_and_comments():
    code = '"""Module doc."""\nx = "code string"\n\n\ndef f():\n    """Function doc."""\n    return 1  # note\n'
    assert prose_of_code(code).split("\n") == ['"""Module doc."""', '"""Function doc."""', "# note"]


def test_no_text_names_a_path_that_is_not_there():
    flagged = {str(path.relative_to(REPO)): bad for path, text in texts().items() if (bad := stale_paths(path, text))}
    assert not flagged, "stale paths:\n" + "\n".join(f"{path}: {', '.join(bad)}" for path, bad in flagged.items())


def test_docs_rerun_table_is_the_one_infonas_plan_prints():
    printed = subprocess.run([sys.executable, "-m", "infonas.plan"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    documented = (REPO / "docs" / "settings.md").read_text(encoding="utf-8").splitlines()
    rows = [line for line in documented if line.startswith("| `")]
    assert rows == printed


def test_readme_is_a_short_front_page_with_the_two_commands_first():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES
    long = [f"{k}: {len(line)}" for k, line in enumerate(lines, 1) if len(line) > MAX_LINE]
    assert not long, f"README lines over {MAX_LINE} characters: {long}"
    starts = ("make ", ".venv/", "python", "snakemake")
    commands = [k for k, line in enumerate(lines) if line.strip().startswith(starts)]
    assert [lines[k].split("#")[0].strip() for k in commands[:2]] == ["make run", "make test"]


def test_readme_links_every_doc():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for doc in sorted((REPO / "docs").glob("*.md")):
        assert f"docs/{doc.name}" in readme, f"README does not link docs/{doc.name}"
