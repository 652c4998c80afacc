/** `cloudlocker contacts add NAME CARD | ls | rm NAME`: the contact book. */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';

export function contactsCommand(context: CommandContext = defaultContext()): Command {
  const contacts = new Command('contacts').description('Your contacts: named public cards whose files you trust.');
  contacts.addCommand(
    addClientOptions(new Command('add').description('Add a contact from their card.').argument('<name>').argument('<card>', 'cloudlockercard1…')).action(
      async (name: string, card: string, flags: ClientFlags) => {
        await runWithClient(flags, context, async (client, output) => {
          const result = await client.request('addContact', { name, card });
          output.result(result, () => `Added ${result.name} (card id ${result.cardId}): compare that id with ${result.name} through another channel.`);
        });
      },
    ),
  );
  contacts.addCommand(
    addClientOptions(new Command('ls').description('List the contacts.')).action(async (flags: ClientFlags) => {
      await runWithClient(flags, context, async (client, output) => {
        const result = await client.request('listContacts', {});
        output.result(result, () => (result.contacts.length === 0 ? 'No contacts.' : result.contacts.map((c) => `${c.cardId}  ${c.name}`)));
      });
    }),
  );
  contacts.addCommand(
    addClientOptions(new Command('rm').description('Remove a contact.').argument('<name>')).action(async (name: string, flags: ClientFlags) => {
      await runWithClient(flags, context, async (client, output) => {
        const result = await client.request('removeContact', { name });
        output.result(result, () => `Removed ${result.name}.`);
      });
    }),
  );
  return contacts;
}
