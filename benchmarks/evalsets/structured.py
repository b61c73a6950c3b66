"""Set B: structured and technical text. Logs, JSON, CSV, code, configuration, address blocks, forms."""

from __future__ import annotations

TEMPLATES: dict[str, list[str]] = {
    "log": [
        "{{n_timestamp}} INFO  auth.login user={{email}} ip={{ip}} session={{n_uuid}} took={{n_duration}}",
        "{{n_timestamp}} WARN  payment.declined card={{card}} amount={{n_amount}} order={{n_order_id}} "
        "reason=insufficient_funds",
        "{{ip}} - - [{{n_timestamp}}] \"GET /api/v2/users?email={{email}} HTTP/1.1\" 200 {{n_build}} \"-\" "
        "\"Mozilla/5.0\"",
        "{{n_timestamp}} ERROR sync failed for contact name=\"{{name}}\" phone=\"{{phone}}\" request_id="
        "{{n_request_id}}\nTraceback (most recent call last):\n  File \"crm/sync.py\", line {{n_build}}, in push\n"
        "ValueError: duplicate contact",
        "{{n_timestamp}} DEBUG outbound POST https://api.example.com/v1/charge Authorization: Bearer {{payment}} "
        "body_sha={{n_sha256}}",
        "[{{n_timestamp}}] worker-3 connecting to postgres://app:{{password}}@{{host}}:5432/orders",
        "{{n_timestamp}} INFO  kyc.check subject=\"{{name}}\" ssn={{ssn}} dob={{dob}} result=pass",
        "{{n_timestamp}} INFO  deploy {{n_version}} commit={{n_git_short}} image={{n_digest}} by={{email}}",
        "{{n_timestamp}} WARN  token rejected: {{jwt}} (expired) client={{ip}}",
        "{{n_timestamp}} INFO  sms.send to={{phone_intl}} template=otp status=queued id={{n_uuid}}",
        "{{n_timestamp}} INFO  call.ended from={{phone_intl}} to={{phone}} duration={{n_duration}} "
        "agent={{email}}",
        "{{n_timestamp}} INFO  sepa.payout iban={{iban}} amount={{n_amount}} ref={{n_order_id}}",
        "Jan 12 03:14:07 gw sshd[{{n_build}}]: Accepted publickey for {{user}} from {{ip}} port {{n_port}}",
    ],
    "json": [
        "{\"id\": \"{{n_uuid}}\", \"name\": \"{{name}}\", \"email\": \"{{email}}\", \"phone\": \"{{phone}}\", "
        "\"created_at\": \"{{n_timestamp}}\", \"plan\": \"pro\"}",
        "{\n  \"customer\": {\n    \"first_name\": \"{{first}}\",\n    \"last_name\": \"{{last}}\",\n    "
        "\"address\": \"{{address_line}}\",\n    \"dob\": \"{{dob}}\"\n  },\n  \"order\": {\"id\": \"{{n_order_id}}\", "
        "\"total\": \"{{n_amount}}\", \"sku\": \"{{n_sku}}\"}\n}",
        "{\"type\": \"service_account\", \"project_id\": \"billing-prod\", \"private_key_id\": \"{{n_sha1}}\", "
        "\"private_key\": \"{{pem_json}}\\n\", \"client_email\": \"{{email}}\"}",
        "{\"event\": \"payment.succeeded\", \"data\": {\"card\": \"{{card}}\", \"holder\": \"{{name}}\", "
        "\"amount\": \"{{n_amount}}\", \"idempotency_key\": \"{{n_uuid}}\"}}",
        "{\"openai_api_key\": \"{{llm}}\", \"model\": \"gpt-4o\", \"timeout_ms\": {{n_build}}}",
        "{\"user\": {\"name\": \"{{name}}\", \"ssn\": \"{{ssn}}\", \"phone\": \"{{phone_intl}}\", \"ip\": \"{{ip}}\"}, "
        "\"trace\": \"{{n_sha1}}\"}",
        "{\"beneficiary\": \"{{name}}\", \"iban\": \"{{iban}}\", \"reference\": \"{{n_order_id}}\", "
        "\"executed\": \"{{n_timestamp}}\"}",
        "[{\"name\": \"{{name}}\", \"mail\": \"{{email}}\"}, {\"name\": \"{{name2}}\", \"mail\": \"{{email2}}\"}, "
        "{\"version\": \"{{n_version}}\", \"isbn\": \"{{n_isbn}}\"}]",
        "{\"slack\": {\"token\": \"{{s_slack}}\", \"webhook\": \"{{s_slack_webhook}}\"}, \"telegram\": "
        "\"{{s_telegram}}\", \"build\": \"{{n_build}}\"}",
    ],
    "csv": [
        "id,name,email,phone,signup\n{{n_build}},{{name}},{{email}},{{phone}},{{n_date}}\n{{n_build}},{{name2}},"
        "{{email2}},{{phone}},{{n_date}}\n{{n_build}},{{name3}},{{email3}},{{phone}},{{n_date}}",
        "order_id,customer,card,amount,status\n{{n_order_id}},{{name}},{{card}},{{n_amount}},captured\n"
        "{{n_order_id}},{{name2}},{{card}},{{n_amount}},refunded",
        "employee;iban;ssn;birth_date\n{{name}};{{iban}};{{ssn}};{{dob}}\n{{name2}};{{iban}};{{ssn}};{{dob}}",
        "name,street,ip,last_seen\n{{name}},\"{{address_line}}\",{{ip}},{{n_timestamp}}\n{{name2}},"
        "\"{{address_line}}\",{{ip}},{{n_timestamp}}",
        "sku,product,price,ean\n{{n_sku}},{{n_product}},{{n_amount}},{{n_ean}}\n{{n_sku}},{{n_product}},{{n_amount}},"
        "{{n_ean}}\nrow reviewed by {{email}}",
    ],
    "code": [
        "import boto3\n\nsession = boto3.Session(\n    aws_access_key_id=\"{{s_aws_key_id}}\",\n    "
        "aws_secret_access_key=\"{{s_aws_secret}}\",\n    region_name=\"eu-west-1\",\n)",
        "const stripe = require('stripe')('{{s_stripe}}');\n// order {{n_order_id}}, see {{n_ticket}}\n"
        "const amount = 1999;",
        "from anthropic import Anthropic\nclient = Anthropic(api_key=\"{{s_anthropic}}\")\n# pinned to {{n_version}}",
        "def test_signup():\n    user = create_user(name=\"{{name}}\", email=\"{{email}}\", phone=\"{{phone}}\")\n"
        "    assert user.id == \"{{n_uuid}}\"",
        "curl -X POST https://api.example.com/v1/messages \\\n  -H \"Authorization: Bearer {{llm}}\" \\\n  -H "
        "\"X-Request-Id: {{n_request_id}}\" \\\n  -d '{\"to\": \"{{email}}\"}'",
        "contacts = [\n    (\"{{name}}\", \"{{phone}}\"),\n    (\"{{name2}}\", \"{{phone_intl}}\"),\n]  "
        "# {{n_ticket}}",
        "INSERT INTO customers (name, email, phone, card) VALUES ('{{name}}', '{{email}}', '{{phone}}', '{{card}}');",
        "git remote set-url origin https://oauth2:{{s_gitlab}}@gitlab.example.com/team/app.git\n"
        "git checkout {{n_git_short}}",
        "headers = {\"Authorization\": \"token {{s_github}}\", \"Accept\": \"application/json\"}  # build {{n_build}}",
        "HF_TOKEN = \"{{s_huggingface}}\"\nGROQ_API_KEY = \"{{s_groq}}\"\nMODEL_REVISION = \"{{n_sha1}}\"",
        "# key pasted from the vault, do not commit\nKEY = \"\"\"\n{{pem}}\n\"\"\"",
    ],
    "config": [
        "DATABASE_URL=postgres://app:{{password}}@{{host}}:5432/app\nREDIS_URL=redis://{{host}}:6379/0\n"
        "SENTRY_RELEASE={{n_version}}\nADMIN_EMAIL={{email}}",
        "aws:\n  access_key_id: {{s_aws_key_id}}\n  secret_access_key: {{s_aws_secret}}\nbuild: {{n_build}}\n"
        "image: {{n_digest}}",
        "[smtp]\nhost = smtp.example.com\nuser = {{email}}\npassword = {{password}}\nport = {{n_port}}",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: llm-keys\nstringData:\n  OPENAI_API_KEY: \"{{s_openai}}\"\n"
        "  DIGITALOCEAN_TOKEN: \"{{s_digitalocean}}\"",
        "storage:\n  account: prodlogs\n  key: \"{{s_azure_storage_key}}\"\n  container_id: {{n_uuid}}",
        "GITHUB_TOKEN={{s_github_fine_grained}}\nNPM_VERSION={{n_version}}\nDISCORD_BOT_TOKEN={{s_discord}}",
        "[payments]\nsquare_token = {{s_square}}\nbraintree = {{s_braintree}}\nmerchant_ref = {{n_order_id}}",
        "GOOGLE_MAPS_KEY={{s_gcp_api_key}}\nSUPPORT_PHONE={{phone}}\nOFFICE={{address_line}}",
    ],
    "address": [
        "Ship to:\n{{name}}\n{{address_block}}\nPhone: {{phone}}",
        "{{name}}\n{{address_block}}\n\nOrder {{n_order_id}} · {{n_amount}}",
        "Billing address\n{{company}}\nAttn: {{name}}\n{{address_block}}\nVAT ref: {{n_sku}}",
        "Return label\nFrom: {{name}}, {{address_line}}\nTo: Returns Dept, {{n_postcode}} (warehouse code "
        "{{n_build}})\nTracking {{n_tracking}}",
        "Sender: {{name2}}\n{{address_block2}}\nRecipient: {{name}}\n{{address_block}}",
        "{{name}}\n{{po_box}}\n{{phone}}",
        "<address>\n  {{name}}<br>\n  {{street}}<br>\n  {{n_postcode}} <!-- sorting code, not the address -->\n"
        "</address>\n<p>Call {{phone}}</p>",
    ],
    "kv": [
        "name={{name}}; email={{email}}; phone={{phone}}; dob={{dob}}; plan=basic; build={{n_build}}",
        "Name: {{name}} | Tel: {{phone}} | Mobile: {{phone_intl}} | Fax: {{phone}}",
        "customer_name: {{name}}\ncard_number: {{card}}\nexpiry: 11/27\namount: {{n_amount}}\norder: {{n_order_id}}",
        "holder={{name}}&iban={{iban}}&amount={{n_amount}}&ref={{n_order_id}}",
        "user: {{user}}\npass: {{password}}\nhost: {{ip}}\nport: {{n_port}}",
        "SSN: {{ssn}}\nDOB: {{dob}}\nName: {{name}}\nCase: {{n_ticket}}",
        "contact: {{name}} <{{email}}>\nalt: {{email_obf}}\nphone: {{phone_ext}}\nversion: {{n_version}}",
        "reference: {{n_non_luhn_16}}\ncard: {{card}}\nupdated: {{n_timestamp}}",
    ],
}

LOCALES = ["en_US", "en_US", "en_GB", "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CH", "es_ES", "es_MX", "it_IT", "nl_NL",
           "pl_PL", "cs_CZ", "sk_SK", "pt_PT", "pt_BR", "sv_SE", "da_DK", "fi_FI", "no_NO", "et_EE", "en_IN", "en_AU",
           "en_CA", "ro_RO", "hu_HU"]
