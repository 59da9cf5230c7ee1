import { startTestApp, type TestApp } from '@test/support/app';
import { databaseOf } from '@test/support/database';
import { UnitOfWork } from '../database/unit-of-work';
import { CatalogService } from './catalog.service';

/** A catalog change is one call, whatever else the unit of work it belongs to does. */
describe(`${CatalogService.name}.changed`, () => {
  let appliance: TestApp;
  let catalog: CatalogService;
  let unitOfWork: UnitOfWork;

  const storedRevision = async () => String(((await databaseOf(appliance).query(`SELECT revision FROM catalog_revision WHERE id = 1`)) as { revision: string }[])[0].revision);

  beforeAll(async () => {
    appliance = await startTestApp();
    catalog = appliance.app.get(CatalogService);
    unitOfWork = appliance.app.get(UnitOfWork);
  });

  afterAll(async () => appliance?.dispose());

  it('bumps the revision once per unit of work and refreshes the catalog after the commit, before the unit of work returns', async () => {
    const before = await storedRevision();
    expect(catalog.current().revision).toBe(before);
    let servedDuringWork: string | undefined;
    await unitOfWork.run(async () => {
      await catalog.changed();
      await catalog.changed();
      servedDuringWork = catalog.current().revision;
    });
    const after = await storedRevision();
    expect(Number(after)).toBe(Number(before) + 1);
    // Devices are not answered from a change that might still roll back.
    expect(servedDuringWork).toBe(before);
    expect(catalog.current().revision).toBe(after);
  });

  it('leaves the revision and the catalog alone when the unit of work rolls back', async () => {
    const before = await storedRevision();
    await expect(
      unitOfWork.run(async () => {
        await catalog.changed();
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await storedRevision()).toBe(before);
    expect(catalog.current().revision).toBe(before);
  });

  it('outside a unit of work, commits the bump and refreshes at once', async () => {
    const before = await storedRevision();
    await catalog.changed();
    const after = await storedRevision();
    expect(Number(after)).toBe(Number(before) + 1);
    expect(catalog.current().revision).toBe(after);
  });
});
