-- pg_cron belongs in pg_catalog, where Supabase's dashboard and docs install it
-- (`create extension pg_cron with schema pg_catalog`), not in public: Supabase's security advisor (splinter's
-- extension_in_public) warns about extensions in the API schema. Its own objects stay in schema `cron` either
-- way; only the extension's recorded schema changes.
--
-- pg_cron cannot be moved (it is not relocatable), so where it sits in public it is dropped and created again
-- in pg_catalog, and every scheduled job — this project's and any of your own — is scheduled again with the
-- same name, schedule, command, database, user and active flag. The run history (cron.job_run_details) is
-- carried over too. Where pg_cron is already elsewhere (hosted projects) this does nothing.

do $$
declare
  job record;
begin
  if (select e.extnamespace from pg_catalog.pg_extension e where e.extname = 'pg_cron') <> 'public'::regnamespace then
    return;
  end if;
  create temp table saved_cron_jobs on commit drop as select * from cron.job;
  create temp table saved_cron_runs on commit drop as
    select j.jobname, r.* from cron.job_run_details r left join cron.job j on j.jobid = r.jobid;

  drop extension pg_cron;
  create extension pg_cron with schema pg_catalog;

  for job in select * from saved_cron_jobs order by jobid loop
    perform cron.schedule_in_database(coalesce(job.jobname, 'job-' || job.jobid), job.schedule, job.command,
                                      job.database, job.username, job.active);
  end loop;
  insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message,
                                    start_time, end_time)
  select j.jobid, r.job_pid, r.database, r.username, r.command, r.status, r.return_message, r.start_time, r.end_time
  from saved_cron_runs r join cron.job j on j.jobname = coalesce(r.jobname, 'job-' || r.jobid)
  order by r.runid;
end
$$;
