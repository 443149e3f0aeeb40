-- Bumped by every password change or reset. A login carries the generation it started with
-- (in its ceremony state, through the MFA step) and its session is only created while the
-- account still has that generation, so a login begun with the old password cannot finish
-- after the password was replaced.
ALTER TABLE users ADD COLUMN password_generation BIGINT NOT NULL DEFAULT 0
    CHECK (password_generation >= 0);
