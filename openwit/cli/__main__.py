from openwit.cli import app

app()
