"""The lecturer's guide (docs/teaching.md) and the Chinese entry (docs/zh/README.md): their times come
from docs/runtimes.json, every notebook, exercise check, concept check and link they name exists, and
the README links them."""
import importlib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "docs" / "teaching.md"
ZH = ROOT / "docs" / "zh" / "README.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
import measure_runtimes  # noqa: E402

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _relative_links(doc: Path):
    return [t for t in LINK.findall(doc.read_text()) if not re.match(r"^[a-z]+:|^#", t)]


@pytest.mark.parametrize("doc", [TEACHING, ZH], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    # guards against: a guide pointing at a renamed notebook or file
    for target in _relative_links(doc):
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{doc.relative_to(ROOT)} links {target}, which does not exist"


@pytest.mark.parametrize("doc", [TEACHING, ZH], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_named_exists(doc):
    names = set(re.findall(r"\b(\d\d_[a-z][a-z0-9_]*)", doc.read_text()))
    assert names, "the page names the notebooks"
    existing = {p.stem for p in NOTEBOOKS}
    assert names <= existing, f"{doc.relative_to(ROOT)} names notebooks that do not exist: {sorted(names - existing)}"


def test_the_guides_times_are_the_recorded_ones():
    # guards against: run times typed into the guide by hand, drifting from docs/runtimes.json
    db = json.loads(measure_runtimes.DB.read_text())
    block = re.search(re.escape(measure_runtimes.START) + ".*?" + re.escape(measure_runtimes.END),
                      TEACHING.read_text(), flags=re.S).group(0)
    assert block == measure_runtimes.teaching_block(db), \
        "docs/teaching.md's times differ from docs/runtimes.json: run python scripts/measure_runtimes.py --write-readme"
    for p in NOTEBOOKS:                          # every notebook present has a row, measured or not
        assert f"[{p.stem}](../notebooks/{p.name})" in block
    for nn in set(measure_runtimes.PLANNED) - {p.name[:2] for p in NOTEBOOKS}:
        assert f"| {nn} (being written)" in block and "to be measured" in block


def test_in_class_advice_follows_the_measured_time():
    fast = {"cpu": {"seconds": measure_runtimes.LIVE_SECONDS}, "smoke": {"seconds": 5}}
    slow = {"cpu": {"seconds": measure_runtimes.LIVE_SECONDS + 1}, "smoke": {"seconds": 5}}
    assert measure_runtimes.in_class(fast, "03_mlp_gan").startswith("run live")
    assert "smoke mode live" in measure_runtimes.in_class(slow, "07_wgan")
    assert measure_runtimes.in_class({}, "11_pix2pix") == "to be measured"


def test_the_plan_has_12_to_14_meetings_and_covers_every_notebook():
    text = TEACHING.read_text()
    plan = text.split("## A plan of", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \|", plan, flags=re.M)
    assert 12 <= len(rows) <= 14 and rows == [str(i) for i in range(1, len(rows) + 1)]
    for p in NOTEBOOKS:
        assert f"../notebooks/{p.name}" in plan or re.search(rf"\b{p.name[:2]}\b", plan), f"the plan skips {p.name}"
    for nn, topic in (("11", "pix2pix"), ("12", "StyleGAN"), ("13", "SeqGAN"), ("14", "semi-supervised")):
        assert nn in plan and topic in plan, f"the plan has no meeting for notebook {nn} ({topic})"


def test_every_exercise_and_concept_check_the_guide_names_exists():
    from gan_utils.exercises import concepts

    text = TEACHING.read_text()
    checks = set(re.findall(r"`(check_\w+)`", text))
    assert len(checks) >= 20
    modules = [importlib.import_module(f"gan_utils.exercises.nb{p.name[:2]}") for p in NOTEBOOKS]
    for check in checks:
        assert any(hasattr(m, check) for m in modules), f"docs/teaching.md names {check}, which no notebook has"
    ids = re.findall(r"`(\d\d\.[a-z0-9-]+)`", text)
    assert ids, "the misconceptions point at concept checks"
    for qid in ids:
        concepts.question(qid)                   # raises KeyError for an unknown one


def test_the_chinese_entry_has_the_commands_the_glossary_and_the_corrected_facts():
    zh, readme = ZH.read_text(), (ROOT / "README.md").read_text()
    assert "make course" in zh and "make test" in zh
    for term in ("判别器", "生成器", "模式崩溃", "梯度惩罚", "谱归一化", "Fréchet 距离"):
        assert term in zh, f"the glossary lacks {term}"
    assert "Arjovsky" in zh and "Chintala" in zh and "Bottou" in zh and "ICML 2017" in zh
    assert "Karras" in zh and "Laine" in zh and "Aila" in zh and "CVPR 2019" in zh
    assert "token" in zh and "视频" in zh                  # SeqGAN: token sequences, not video
    assert "PyTorch" in zh and "TensorFlow" in zh
    for p in NOTEBOOKS:
        assert f"../../notebooks/{p.name}" in zh, f"the Chinese entry does not describe {p.name}"
    # the same two commands as the README's
    cmds = lambda text: re.findall(r"^make (course|test)\b", text, flags=re.M)   # noqa: E731
    assert cmds(zh) == cmds(readme) == ["course", "test"]


def test_readme_links_the_guide_the_chinese_entry_and_the_slides():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/teaching.md)" in readme and "](docs/zh/README.md)" in readme and "make slides" in readme
    # guards against: the README's two commands changing
    block = re.search(r"```bash\n(.*?)```", readme, flags=re.S).group(1)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make course", "make test"]
