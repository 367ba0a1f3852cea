CREATE TABLE IF NOT EXISTS "ai_gateway_logs" (id SERIAL PRIMARY KEY, timestamp TIMESTAMPTZ NOT NULL, log_data JSONB NOT NULL, ttfb INTEGER, latency INTEGER, request_id TEXT UNIQUE NOT NULL, provider TEXT, model TEXT, project_id TEXT, org_id TEXT, user_id TEXT, input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, cost DOUBLE PRECISION, status TEXT, status_code INTEGER);
CREATE INDEX IF NOT EXISTS "ai_gateway_logs_timestamp_idx" ON "ai_gateway_logs" (timestamp);
CREATE INDEX IF NOT EXISTS "ai_gateway_logs_project_id_idx" ON "ai_gateway_logs" (project_id);
CREATE INDEX IF NOT EXISTS "ai_gateway_logs_model_idx" ON "ai_gateway_logs" (model);
