import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variables_read_by_settings() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r'(?:env\.\w+|_strict_bool|_require)\(\s*f?"([A-Z][A-Z0-9_]+)"', source))
    for prefix in re.findall(r'f"\{_provider\.upper\(\)\}(_[A-Z_]+)"', source):
        names |= {f"GOOGLE{prefix}", f"GITHUB{prefix}"}
    return names


def test_env_example_lists_every_variable_the_settings_read_with_an_explanation():
    example = (ROOT / ".env.example").read_text().splitlines()
    listed = {line.split("=", 1)[0] for line in example if re.match(r"^[A-Z][A-Z0-9_]*=", line)}
    read = variables_read_by_settings()
    assert len(read) > 20
    assert read - listed == set()
    for index, line in enumerate(example):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            above = example[index - 1]
            assert above.startswith("#") or re.match(r"^[A-Z][A-Z0-9_]*=", above), f"{line} has no explanation"


def test_env_example_holds_no_secret_values():
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        secret_like = "SECRET" in name
        if secret_like and not line.startswith("#"):
            assert value == "", f"{name} must be empty in .env.example"
