from local.demo import main


def test_interim_demo_copies_a_model_between_two_processes(capsys):
    assert main() == 0
    assert "demo OK" in capsys.readouterr().out
