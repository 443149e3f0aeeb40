-- RS256 ID tokens for relying parties that can verify nothing else (the key backend signs them
-- with an RSA key: a local rsa-2048 file, or a Vault Transit rsa key).
ALTER TABLE applications
    DROP CONSTRAINT applications_id_token_signed_response_alg_check,
    ADD CONSTRAINT applications_id_token_signed_response_alg_check
        CHECK (id_token_signed_response_alg IN ('EdDSA', 'ES256', 'RS256'));
