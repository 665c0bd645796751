FROM python:3.12-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
ENV BONDGENOTEN_HTTP_HOST=0.0.0.0
EXPOSE 8080
CMD ["bondgenoten", "run"]
