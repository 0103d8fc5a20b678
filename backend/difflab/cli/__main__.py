from difflab.cli import app

app()
