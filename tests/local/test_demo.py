"""`make demo` end to end: every sample item reaches every target and the demo says so."""

from local.demo import main


def test_the_demo_copies_every_sample_item_to_every_target_and_exits_0(capsys):
    assert main() == 0
    out = capsys.readouterr().out
    assert "demo OK" in out
    assert out.count("succeeded") >= 8  # 4 sample items x 2 targets
    assert "/api/dashboard?code=" in out
