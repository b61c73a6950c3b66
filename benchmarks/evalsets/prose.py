"""Set A: realistic prose. Support tickets, chats, forms, CRM notes and e-mails with signatures.

English templates carry values from every locale (names, streets and phones as people abroad write
them); the templates in other languages carry values of their own locale.
"""

from __future__ import annotations

ENGLISH: dict[str, list[str]] = {
    "ticket": [
        "Hi support, my card {{card}} was charged twice for order {{n_order_id}} ({{n_amount}}). Can you refund one of them? "
        "You can reach me on {{phone}}. Thanks, {{name}}",
        "Subject: Cannot log in since update {{n_version}}\n\nHello, I'm {{name}} and I have been locked out since this "
        "morning. My account e-mail is {{email}}. The error mentions request {{n_request_id}}. Please call {{phone}} "
        "if easier.",
        "Ticket {{n_ticket}} - wrong delivery address\nCustomer {{name}} says the parcel (tracking {{n_tracking}}) went "
        "to the old address. New address is {{address_line}}. Best number to reach them: {{phone_intl}}.",
        "Please update my billing details. IBAN: {{iban}}, account holder {{name}}. The invoice {{n_order_id}} for "
        "{{n_amount}} should be paid from this account from now on.",
        "My {{n_product}} stopped charging after 3 weeks. Serial is irrelevant I guess, order number {{n_order_id}}. "
        "Ship the replacement to:\n{{name}}\n{{address_block}}\nPhone {{phone}}",
        "We were billed {{n_amount}} on {{n_date}} but our plan is the basic one. Our admin contact is {{name}} "
        "({{email}}, mobile {{phone}}).",
        "Hello, I forgot my password and the reset mail never arrives at {{email_obf}}. I tried three times. "
        "Order ref {{n_order_id}}.",
        "Refund request for {{n_product}}. Paid with card ending in the number {{card}} (yes, I know I should not send "
        "this). Contact: {{first}} on {{phone}}",
        "URGENT: a colleague pasted our production key {{cloud}} into the public channel at {{n_timestamp}}. "
        "Please rotate it. Reporter: {{name}}, {{email}}",
        "The app crashes on build {{n_build}} when I open settings. Device: {{n_product}}, app version {{n_version}}. "
        "My user is {{email}} in case you need to look at the logs.",
        "For the background check we need the applicant's SSN: {{ssn}}. Date of birth: {{dob}}. Name: {{name}}.",
        "I moved! Please change my address to {{street}} and keep the phone number {{phone}}. Customer number "
        "{{n_order_id}}.",
        "Hi, our integration fails with 401. We use token {{vcs}} against your API, request id {{n_request_id}}, "
        "and the webhook goes to {{s_slack_webhook}}. Contact {{name}}.",
        "The charge of {{n_amount}} on {{n_date}} is not mine. Card {{card}}. I'm {{name}}, DOB {{dob}}, and you "
        "can call me on {{phone}}.",
    ],
    "chat": [
        "[{{n_timestamp}}] {{first}}: hey can you send me the wifi password again?\n[{{n_timestamp}}] {{first2}}: "
        "sure, it's {{password}}",
        "{{first}}: what's {{name2}}'s number?\n{{first2}}: {{phone}} but she's on leave until {{n_date}}",
        "lol i just pushed my {{llm}} to the repo by accident, rotating now. commit {{n_git_short}}",
        "{{first}}: call me on {{phone}} when you land\n{{first2}}: ok, flight lands around {{n_date}}",
        "{{first}}: the new server is {{ip}}, ssh as usual\n{{first2}}: thx, what's the db password?\n{{first}}: "
        "{{password}}",
        "can someone review PR for {{n_version}}? also {{name}} left, please remove {{email}} from the mailing lists",
        "{{first}}: my email is {{email_obf}} btw\n{{first2}}: got it, added you to the invite",
        "{{first}}: here's the stripe key for staging {{payment}}\n{{first2}}: pls don't paste keys in chat",
        "reminder: {{name}}'s birthday is coming up, she asked us to use {{email}} for the gift card",
        "{{first}}: my new number is {{phone_intl}}\n{{first2}}: saved!",
        "{{first}}: use this bot token {{chat}} for the alerts channel",
        "{{first}}: can you wire {{n_amount}} to {{iban}}? it's for the conference booth, invoice {{n_order_id}}",
    ],
    "form": [
        "Contact form submission\nName: {{name}}\nEmail: {{email}}\nPhone: {{phone}}\nMessage: I'd like a quote for "
        "50 units of {{n_product}}.",
        "New lead from website\nFull name: {{name}}\nCompany: {{company}}\nWork email: {{email}}\nTel: {{phone}}\n"
        "Budget: {{n_amount}}",
        "Patient intake\nName: {{name}}\nDate of birth: {{dob}}\nPhone: {{phone}}\nAddress: {{address_line}}\n"
        "Insurance ID: (see card)\nReason for visit: follow-up",
        "Application for rental\nApplicant: {{name}}\nDOB: {{dob}}\nSSN: {{ssn}}\nCurrent address: {{address_line}}\n"
        "Mobile: {{phone}}\nMonthly income: {{n_amount}}",
        "Payment details\nCardholder: {{name}}\nCard number: {{card}}\nExpiry: 09/28\nBilling postcode: "
        "{{n_postcode}}",
        "Direct debit mandate\nAccount holder: {{name}}\nIBAN: {{iban}}\nMandate reference: {{n_order_id}}\n"
        "Signed on {{n_date}}",
        "Event registration\nFirst name: {{first}}\nLast name: {{last}}\nE-mail: {{email}}\nMobile: {{phone_intl}}\n"
        "Dietary needs: none",
    ],
    "crm": [
        "Call notes {{n_date}}: spoke with {{name}} from {{company}}. Interested in renewal at {{n_amount}}. Follow up "
        "on {{phone}} next week; prefers e-mail {{email}}.",
        "Account {{n_order_id}}: {{name}} (decision maker) asked for a demo of {{n_version}}. Assistant is {{name2}}, "
        "reach via {{email2}}.",
        "Visited the client at {{address_line}}. {{first}} showed us the {{n_product}} setup. Next step: proposal "
        "by {{n_date}}.",
        "Lead {{name}} bounced from {{email}}; new address given by phone ({{phone}}) is {{email_obf}}.",
        "Customer {{name}} complained about {{n_ticket}}. Goodwill credit {{n_amount}} approved. Mobile {{phone}}.",
        "Met {{name}} at the trade fair. Card says: {{phone}} / {{email}}. Based in {{city}}.",
    ],
    "email": [
        "Hi {{first}},\n\nthanks for the call today. As promised, my direct line is {{phone_ext}} and my mobile "
        "{{phone}}.\n\n--\n{{name2}} | Account Manager | {{company}}\n{{address_line}}",
        "Dear Dr. {{last}},\n\nplease find enclosed the results for {{name2}} (born {{dob}}).\n\nSincerely,\n"
        "{{name}}\n{{po_box}}\nTel {{phone}} · Fax {{phone}}",
        "Dear {{name}},\n\nThank you for your order {{n_order_id}}. Your {{n_product}} will ship on {{n_date}}.\n\n"
        "Kind regards,\n{{name2}}\nCustomer Care\nT: {{phone}}\n{{email2}}",
        "Hi {{first}},\n\nas discussed, here are the credentials for the staging box ({{ip}}):\nuser: "
        "{{user}}\npassword: {{password}}\n\nCheers,\n{{first2}}",
        "Hello {{first}},\n\nplease find the invoice for {{n_amount}} attached. Payment to {{iban}} within 14 days.\n\n"
        "Best,\n{{name2}}\n{{company}}\n{{address_block}}\nPhone: {{phone}}",
        "Hi team,\n\nI'll be out until {{n_date}}. For anything urgent call {{name}} on {{phone_intl}}.\n\nThanks,\n"
        "{{name2}}\nMobile: {{phone}}",
        "Dear Sir or Madam,\n\nI am writing about the charge of {{n_amount}} on my card {{card}}. I never received "
        "order {{n_order_id}}.\n\nYours faithfully,\n{{name}}\n{{address_block}}",
        "Hi {{first}},\n\nhere's the service account key you asked for:\n{{pem}}\n\nDon't commit it.\n{{first2}}",
        "Hey {{first}},\n\nthe new CI token is {{vcs}} and the deploy key id is {{s_aws_key_id}} with secret "
        "{{s_aws_secret}}.\n\n{{first2}}",
        "Dear {{name}},\n\nwe have updated your contact details to {{email}} and {{phone_ext}}.\n\nRegards,\n{{name2}}",
        "Hello {{first}},\n\nthe JWT from the login endpoint was {{jwt}} - it expired at {{n_timestamp}}.\n\n"
        "Thanks,\n{{first2}}",
    ],
    "mixed": [
        "Quick note: {{name}} can't make it. Use {{name2}} instead, {{email2}} or {{phone}}.",
        "Reminder that order {{n_order_id}} (tracking {{n_tracking}}) is still pending; the customer {{name}} called "
        "twice from {{phone}}.",
        "Build {{n_build}} with digest {{n_digest}} fixed the issue reported by {{email}}.",
        "The router at {{ip}} logs every visitor; {{name}} asked us to purge records older than {{n_date}}.",
        "Our key {{secret_zw}} leaked in a screenshot, and a second one ({{aws_lower}}) in a README.",
        "Note from {{name}}: my details for the payroll system are SSN {{ssn}}, bank {{iban}}.",
        "Please send the contract to {{name}}, {{address_line}}. ISBN of the handbook is {{n_isbn}}.",
        "The key body was pasted without its header:\n{{pem_body}}\nwho did this?",
        "{{name}} ({{email}}) reported {{n_percent}} packet loss from {{ip}} since {{n_version}}.",
        "Shipping {{n_sku}} x2 to {{name}} at {{street}}, {{city}}. Total {{n_amount}}.",
        "Order {{n_order_id}} confirmed: {{n_product}}, {{n_amount}}. Your payment reference is {{n_non_luhn_16}} and "
        "delivery is planned for {{n_date}}.",
        "The failing job id is {{n_uuid}}; artifact hash {{n_sha256}}, previous good build {{n_build}} on "
        "{{n_version}}. Took {{n_duration}} before timing out.",
        "Library request: ISBN {{n_isbn}} and {{n_isbn}}, due back {{n_date}}. Reference {{n_non_luhn_16}}.",
        "Release {{n_version}} ships {{n_product}} support; checksum {{n_md5}}, tag {{n_git_short}}, see {{n_ticket}}.",
        "All stores in the {{n_postcode}} area close at 6pm on {{n_date}}; prices from {{n_amount}}.",
        "If the courier can't find the house, ring {{phone}} or text {{first}} on {{phone}}.",
        "Send the signed forms to {{po_box}}, attention {{name}}. Questions: {{phone}}.",
        "{{name}} {{phone}} {{email}} - met at the booth, wants pricing for {{n_product}}",
        "Can't make the 3pm, I'm stuck at the airport. Try me at {{phone_intl}} or on WhatsApp {{phone}}. {{first}}",
        "Tell {{first}} the locker code changed and her new badge is ready; she can collect it from {{name2}}.",
        "the number on the sticker is {{phone}}, it says call between 9 and 5",
    ],
}

NATIVE: dict[str, list[str]] = {
    "de": [
        "Hallo, ich bin {{name}} und meine Karte {{card}} wurde doppelt belastet (Bestellung {{n_order_id}}). Bitte "
        "rufen Sie mich unter {{phone}} zurück.",
        "Sehr geehrte Damen und Herren,\n\nbitte ändern Sie meine Anschrift auf:\n{{address_block}}\n\nMit "
        "freundlichen Grüßen\n{{name}}\nTel.: {{phone}}",
        "Kontaktformular\nName: {{name}}\nE-Mail: {{email}}\nTelefon: {{phone}}\nGeburtsdatum: {{dob}}",
        "Bitte überweisen Sie {{n_amount}} auf das Konto {{iban}} (Kontoinhaber {{name}}).",
        "Moin {{first}}, das Passwort für den Testserver lautet {{password}}. Gruß, {{first2}}",
        "Lieferung an {{name}}, {{address_line}}. Sendungsnummer {{n_tracking}}.",
    ],
    "fr": [
        "Bonjour, je m'appelle {{name}}. Ma carte {{card}} a été débitée deux fois pour la commande {{n_order_id}}. "
        "Vous pouvez me joindre au {{phone}}.",
        "Madame, Monsieur,\n\nmerci de noter ma nouvelle adresse :\n{{address_block}}\n\nCordialement,\n{{name}}\n"
        "Tél. : {{phone}}",
        "Formulaire de contact\nNom : {{name}}\nCourriel : {{email}}\nTéléphone : {{phone}}\nDate de naissance : {{dob}}",
        "Merci de virer {{n_amount}} sur le compte {{iban}} au nom de {{name}}.",
        "Salut {{first}}, le mot de passe du wifi c'est {{password}}. À plus, {{first2}}",
    ],
    "es": [
        "Hola, soy {{name}}. Me cobraron dos veces en la tarjeta {{card}} por el pedido {{n_order_id}}. Mi teléfono "
        "es {{phone}}.",
        "Estimados señores:\n\npor favor envíen la factura a:\n{{name}}\n{{address_block}}\n\nSaludos,\n{{name}}\n"
        "Móvil: {{phone}}",
        "Formulario\nNombre: {{name}}\nCorreo: {{email}}\nTeléfono: {{phone}}\nFecha de nacimiento: {{dob}}",
        "Transfiere {{n_amount}} a la cuenta {{iban}}, titular {{name}}.",
    ],
    "it": [
        "Buongiorno, sono {{name}}. La mia carta {{card}} è stata addebitata due volte per l'ordine {{n_order_id}}. "
        "Potete chiamarmi al {{phone}}.",
        "Spett.le ditta,\n\nvi prego di spedire a:\n{{name}}\n{{address_block}}\n\nCordiali saluti\n{{name}}\n"
        "Cell. {{phone}}",
        "Modulo di contatto\nNome: {{name}}\nEmail: {{email}}\nTelefono: {{phone}}\nData di nascita: {{dob}}",
    ],
    "nl": [
        "Hallo, ik ben {{name}}. Mijn kaart {{card}} is twee keer belast voor bestelling {{n_order_id}}. Bel me op "
        "{{phone}}.",
        "Beste klantenservice,\n\nmijn nieuwe adres is {{address_line}}.\n\nMet vriendelijke groet,\n{{name}}\n"
        "Tel: {{phone}}",
        "Graag {{n_amount}} overmaken naar {{iban}} t.n.v. {{name}}. Geboortedatum: {{dob}}.",
    ],
    "pl": [
        "Dzień dobry, nazywam się {{name}}. Moja karta {{card}} została obciążona dwa razy za zamówienie "
        "{{n_order_id}}. Proszę o kontakt pod numerem {{phone}}.",
        "Proszę wysłać paczkę na adres:\n{{name}}\n{{address_block}}\nTel. {{phone}}",
        "Formularz\nImię i nazwisko: {{name}}\nE-mail: {{email}}\nTelefon: {{phone}}\nData urodzenia: {{dob}}",
        "Przelew {{n_amount}} na konto {{iban}}, odbiorca {{name}}.",
    ],
    "cs": [
        "Dobrý den, jmenuji se {{name}}. Moje karta {{card}} byla stržena dvakrát za objednávku {{n_order_id}}. "
        "Volejte mi na {{phone}}.",
        "Prosím o doručení na adresu:\n{{name}}\n{{address_block}}\nTelefon: {{phone}}",
        "Formulář\nJméno: {{name}}\nE-mail: {{email}}\nDatum narození: {{dob}}",
    ],
    "pt": [
        "Olá, sou {{name}}. O meu cartão {{card}} foi cobrado duas vezes pela encomenda {{n_order_id}}. Podem ligar "
        "para {{phone}}.",
        "Por favor enviem para:\n{{name}}\n{{address_block}}\nTelemóvel: {{phone}}",
        "Formulário\nNome: {{name}}\nE-mail: {{email}}\nTelefone: {{phone}}\nData de nascimento: {{dob}}",
    ],
    "sv": [
        "Hej, jag heter {{name}}. Mitt kort {{card}} drogs två gånger för order {{n_order_id}}. Ring mig på "
        "{{phone}}.",
        "Skicka paketet till:\n{{name}}\n{{address_block}}\nTel: {{phone}}\nFödelsedatum: {{dob}}",
    ],
    "da": [
        "Hej, jeg hedder {{name}}. Mit kort {{card}} blev trukket to gange for ordre {{n_order_id}}. Ring på "
        "{{phone}}.",
        "Send venligst til:\n{{name}}\n{{address_block}}\nTlf.: {{phone}}\nFødselsdato: {{dob}}",
    ],
    "fi": [
        "Hei, olen {{name}}. Korttiani {{card}} veloitettiin kahdesti tilauksesta {{n_order_id}}. Soita numeroon "
        "{{phone}}.",
        "Lähetä paketti osoitteeseen:\n{{name}}\n{{address_block}}\nPuh. {{phone}}\nSyntymäaika: {{dob}}",
    ],
    "et": [
        "Tere, mina olen {{name}}. Minu kaardilt {{card}} võeti tellimuse {{n_order_id}} eest kaks korda raha. "
        "Helistage {{phone}}.",
        "Palun saatke pakk aadressil:\n{{name}}\n{{address_block}}\nTel: {{phone}}\nSünniaeg: {{dob}}",
    ],
}

# Language of the native templates -> the locales whose values they carry.
NATIVE_LOCALES: dict[str, list[str]] = {
    "de": ["de_DE", "de_AT", "de_CH"], "fr": ["fr_FR", "fr_CH"], "es": ["es_ES", "es_MX"], "it": ["it_IT"],
    "nl": ["nl_NL"], "pl": ["pl_PL"], "cs": ["cs_CZ"], "pt": ["pt_PT", "pt_BR"], "sv": ["sv_SE"], "da": ["da_DK"],
    "fi": ["fi_FI"], "et": ["et_EE"],
}

ENGLISH_LOCALES = ["en_US", "en_US", "en_US", "en_GB", "en_GB", "en_IN", "en_AU", "en_CA", "en_IE", "de_DE",
                   "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL", "pl_PL", "cs_CZ", "sk_SK", "pt_PT", "pt_BR", "sv_SE",
                   "da_DK", "fi_FI", "no_NO", "et_EE", "ro_RO", "hu_HU", "hr_HR", "de_CH", "de_AT"]
