# Serve Autograd Explorer: docker build -t autograd-explorer . && docker run -p 8501:8501 autograd-explorer
# Several replicas behind nginx with sticky sessions: deploy/docker-compose.yml.
FROM python:3.11-slim

# Graphviz's dot renders the SVG/PNG downloads; the page itself lays graphs out in the browser.
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY app.py ./
COPY explorer ./explorer
COPY .streamlit ./.streamlit

RUN useradd --create-home explorer
USER explorer

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
# The launcher imports torch and runs the pipeline once before serving, so no visitor waits for it.
CMD ["python", "-m", "explorer.ui.serve", "--server.address=0.0.0.0", "--server.port=8501"]
